"""Slim copies of the watched objects, kept as the controller's in-memory model (pods in the
pod watch's sink, nodes in a kopf index).

Only the fields the audit reads are copied, so 10,000 pods cost a few megabytes and nothing
in the model is a live kopf view.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.json_fields import mapping, plain
from podpilot.apimachinery.quantities import QuantityError, parse_quantity, whole_value
from podpilot.emptydir.engine.model import NodeFacts

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
DEFAULT_KUBELET_PORT = 10250
"""The kubelet's port when the Node does not say (``status.daemonEndpoints`` is empty or 0)."""

_POD_SPEC_KEYS = ("volumes", "nodeName", "resources", "overhead")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_CONTAINER_KEYS = ("name", "resources", "volumeMounts", "restartPolicy")


def has_emptydir(spec: Mapping[str, Any] | None) -> bool:
    """Whether a pod spec declares at least one emptyDir volume."""
    volumes = (spec or {}).get("volumes") or []
    return any(isinstance(v, Mapping) and "emptyDir" in v for v in volumes)


def slim_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """Copy the fields of a Pod the audit reads (a plain dict, detached from kopf's body)."""
    metadata = mapping(body.get("metadata"))
    spec = mapping(body.get("spec"))
    status = mapping(body.get("status"))
    slim_spec: dict[str, Any] = {k: plain(spec[k]) for k in _POD_SPEC_KEYS if k in spec}
    for key in _CONTAINER_LISTS:
        if spec.get(key):
            slim_spec[key] = [
                {k: plain(c[k]) for k in _CONTAINER_KEYS if k in c}
                for c in spec[key]
                if isinstance(c, Mapping)
            ]
    return {
        "metadata": {
            k: plain(metadata[k])
            for k in ("name", "namespace", "uid", "labels", "annotations", "ownerReferences")
            if k in metadata
        },
        "spec": slim_spec,
        "status": {
            k: plain(status[k])
            for k in ("phase", "reason", "message", "containerStatuses", "initContainerStatuses")
            if k in status
        },
    }


@dataclass(frozen=True)
class NodeInfo:
    """A node as the controller sees it.

    Attributes:
        facts: What the pure audit needs.
        kwok: The node is simulated by KWOK: it has no kubelet and no Summary endpoint.
        kubelet_address: The node's first ``InternalIP``, where its kubelet is dialled (as
            metrics-server does); ``None`` when the Node lists none.
        kubelet_port: ``status.daemonEndpoints.kubeletEndpoint.Port``.
    """

    facts: NodeFacts
    kwok: bool
    kubelet_address: str | None = None
    kubelet_port: int = DEFAULT_KUBELET_PORT


def node_info(body: Mapping[str, Any]) -> NodeInfo:
    """Read the facts of a Node object; unparsable quantities become unknown."""
    metadata = mapping(body.get("metadata"))
    status = mapping(body.get("status"))
    allocatable = mapping(status.get("allocatable"))
    capacity = mapping(status.get("capacity"))
    labels = mapping(metadata.get("labels"))
    annotations = mapping(metadata.get("annotations"))
    node_info_raw = mapping(status.get("nodeInfo"))
    facts = NodeFacts(
        name=str(metadata.get("name") or ""),
        allocatable_memory_bytes=_bytes(allocatable.get("memory")),
        allocatable_ephemeral_bytes=_bytes(allocatable.get("ephemeral-storage")),
        capacity_memory_bytes=_bytes(capacity.get("memory")),
        kubelet_version=_string(node_info_raw.get("kubeletVersion")),
        operating_system=_string(labels.get("kubernetes.io/os")),
    )
    return NodeInfo(
        facts=facts,
        kwok=annotations.get(KWOK_ANNOTATION) == "fake",
        kubelet_address=_internal_ip(status.get("addresses")),
        kubelet_port=_kubelet_port(status.get("daemonEndpoints")),
    )


def _internal_ip(addresses: object) -> str | None:
    """The node's first InternalIP that is an IP address. The API does not check that it is
    one (KEP-1664 leaves that to clients): ``10.0.0.1#`` or ``host/path?`` would make the
    kubelet URL dial another host, port or path with the audit's token."""
    for address in addresses if isinstance(addresses, list) else []:
        entry = mapping(address)
        if entry.get("type") != "InternalIP" or not isinstance(entry.get("address"), str):
            continue
        if (ip := _ip_literal(entry["address"])) is not None:
            return ip
    return None


def _ip_literal(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return None  # fe80::1%eth0: a zone has no place in a URL's host
    return str(ip)


def _kubelet_port(endpoints: object) -> int:
    port = mapping(mapping(endpoints).get("kubeletEndpoint")).get("Port")
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return port
    return DEFAULT_KUBELET_PORT


def _bytes(raw: object) -> int | None:
    if not isinstance(raw, str):
        return None
    try:
        value = parse_quantity(raw)
    except QuantityError:
        return None
    return whole_value(value) if value >= 0 else None


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
