"""The report objects the controller wants to exist, and the patches that get them there.

Pure: no client, no clock. ``observedAt`` is added by the publisher and is not part of the
content, so a report is only rewritten when something a reader can see has changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.group import API_VERSION
from podpilot.flannel.api.status import network_status, node_status
from podpilot.flannel.engine.report import NetworkReport

NODE_PLURAL = "flannelsubnetreports"
NETWORK_PLURAL = "flannelnetworkreports"
LABELS = {"app.kubernetes.io/managed-by": "podpilot", "app.kubernetes.io/part-of": "podpilot"}


@dataclass(frozen=True)
class Desired:
    """The statuses to publish: one per node report, plus the cluster report."""

    nodes: dict[str, dict[str, Any]]
    network: dict[str, Any]


def desired_reports(report: NetworkReport, net_conf_source: str | None) -> Desired:
    """Render the report as CRD statuses.

    Args:
        report: The computed report.
        net_conf_source: ``namespace/name`` of the ConfigMap read, None when none was found.
    """
    network = network_status(report)
    if net_conf_source is not None:
        network["netConf"] = {**network["netConf"], "configMap": net_conf_source}
    return Desired({n.name: node_status(n) for n in report.nodes}, network)


def node_report_body(name: str, node_uid: str | None) -> dict[str, Any]:
    """A new FlannelSubnetReport (without status), owned by its Node when its uid is known."""
    metadata: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if node_uid:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
        ]
    return {
        "apiVersion": API_VERSION,
        "kind": "FlannelSubnetReport",
        "metadata": metadata,
    }


def network_report_body(name: str) -> dict[str, Any]:
    """A new FlannelNetworkReport (without status); normally named ``cluster``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "FlannelNetworkReport",
        "metadata": {"name": name, "labels": dict(LABELS)},
    }


def merge_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """An RFC 7386 merge patch turning ``old`` into ``new``: keys that went away become null.

    Lists and scalars are replaced whole; nested objects are patched key by key.
    """
    before = old or {}
    patch: dict[str, Any] = {}
    for key, value in new.items():
        previous = before.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            nested = merge_patch(previous, value)
            if nested:
                patch[key] = nested
        elif previous != value or key not in before:
            patch[key] = value
    for key in before:
        if key not in new:
            patch[key] = None
    return patch


def without_observed_at(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The content of a status as read back from the cluster (minus the write time)."""
    if status is None:
        return None
    return {k: v for k, v in status.items() if k != "observedAt"}
