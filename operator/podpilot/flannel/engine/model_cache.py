"""What the reporter keeps of the watched objects, and the snapshot it hands to ``build_report``.

The index functions in ``podpilot.app.flannel`` store the *slim* copies built here, so the
operator holds a few hundred bytes per node and per pod rather than whole objects. Slim copies
are plain dicts (kopf bodies are Mappings, and the pure model only accepts dicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.json_fields import plain
from podpilot.apimachinery.selectors import Selector

# Every annotation flanneld reads or writes ends with one of these (after the prefix and "/" or
# "-"), whatever --kube-annotation-prefix is. Other annotations are dropped.
FLANNEL_ANNOTATION_SUFFIXES = (
    "kube-subnet-manager",
    "backend-type",
    "backend-data",
    "backend-v6-data",
    "public-ip",
    "public-ipv6",
    "public-ip-overwrite",
    "public-ipv6-overwrite",
    "node-public-ip",
    "node-public-ipv6",
)

CONDITION_FIELDS = ("type", "status", "reason", "message")

Index = Mapping[Any, Iterable[Any]]


def slim_node(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Node the pure model reads, as plain dicts."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    annotations = metadata.get("annotations") or {}
    conditions = status.get("conditions") or []
    allocatable = status.get("allocatable") or {}
    return {
        "metadata": {
            "name": metadata.get("name"),
            "uid": metadata.get("uid"),
            "creationTimestamp": metadata.get("creationTimestamp"),
            "labels": dict(metadata.get("labels") or {}),
            "annotations": {
                str(k): v
                for k, v in annotations.items()
                if str(k).endswith(FLANNEL_ANNOTATION_SUFFIXES)
            },
        },
        "spec": {k: plain(spec[k]) for k in ("podCIDR", "podCIDRs") if k in spec},
        "status": {
            "addresses": plain(status.get("addresses") or []),
            # Without its timestamps: heartbeats rewrite them without changing the condition.
            "conditions": [
                {k: plain(c[k]) for k in CONDITION_FIELDS if k in c}
                for c in conditions
                if isinstance(c, Mapping) and c.get("type") == "NetworkUnavailable"
            ],
            "allocatable": {"pods": allocatable["pods"]} if "pods" in allocatable else {},
        },
    }


def slim_pod(body: Mapping[str, Any], flannel_selector: Selector) -> dict[str, Any] | None:
    """The fields of a scheduled Pod that matter here; None for pods not bound to a node."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    node = spec.get("nodeName")
    if not node:
        return None
    return {
        "metadata": {"name": metadata.get("name"), "namespace": metadata.get("namespace")},
        "spec": {"nodeName": node, "hostNetwork": bool(spec.get("hostNetwork"))},
        "status": {
            "phase": status.get("phase"),
            "podIP": status.get("podIP"),
            "podIPs": plain(status.get("podIPs") or []),
        },
        "flannel": flannel_selector.matches(metadata.get("labels") or {}),
    }


@dataclass(frozen=True)
class ConfigMapRef:
    """Where flannel's net-conf.json may be: candidates are tried in order."""

    namespaces: tuple[str, ...]
    name: str
    key: str

    def wants(self, namespace: str | None, name: str | None) -> bool:
        return name == self.name and namespace in self.namespaces


def net_conf_entry(body: Mapping[str, Any], ref: ConfigMapRef) -> str | None:
    """The net-conf text of a candidate ConfigMap; None when the key is missing."""
    value = (body.get("data") or {}).get(ref.key)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Snapshot:
    """One consistent copy of the inputs, safe to hand to a worker thread."""

    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    net_conf_text: str | None
    net_conf_source: str | None  # "namespace/name" of the ConfigMap used, None if none found
    flannel_pod_nodes: frozenset[str] | None


def snapshot(
    nodes: Index,
    pods: Index,
    config_maps: Index,  # values are 1-tuples: kopf drops None results from indices
    *,
    ref: ConfigMapRef,
    node_selector: Selector,
) -> Snapshot:
    """Copy the indices into a snapshot, keeping only the selected nodes and their pods.

    Args:
        nodes: Node name → slim nodes (one each).
        pods: Node name → slim pods scheduled there.
        config_maps: ``(namespace, name)`` → ``(net-conf text,)``; the text is None when the
            ConfigMap exists without the key.
        ref: The ConfigMap candidates.
        node_selector: Nodes outside it are left out entirely.
    """
    selected = [
        node
        for store in nodes.values()
        for node in store
        if node_selector.matches(node["metadata"].get("labels") or {})
    ]
    names = {node["metadata"]["name"] for node in selected}
    scheduled = [pod for name in names for pod in pods.get(name, ())]
    # Without any flannel pod in sight (k3s and RKE2 embed flannel in the agent), presence is
    # unknown rather than "absent everywhere".
    with_flannel = frozenset(p["spec"]["nodeName"] for p in scheduled if p.get("flannel"))
    text, source = None, None
    for namespace in ref.namespaces:
        found = list(config_maps.get((namespace, ref.name), ()))
        if found:
            text, source = found[0][0], f"{namespace}/{ref.name}"
            break
    return Snapshot(
        nodes=selected,
        pods=scheduled,
        net_conf_text=text,
        net_conf_source=source,
        flannel_pod_nodes=with_flannel or None,
    )
