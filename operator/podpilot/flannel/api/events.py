"""What the Events about finding transitions say, and about which object: the Node for node
findings, the FlannelNetworkReport ``cluster`` for cluster findings.

The Event bodies themselves (namespace ``default`` for these cluster-scoped objects, name,
timestamps, message limit) are :mod:`podpilot.apimachinery.events`.
"""

from __future__ import annotations

from collections.abc import Mapping

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.apimachinery.group import API_VERSION
from podpilot.flannel.engine.findings import Finding, Severity
from podpilot.flannel.engine.transitions import Active, FindingKey

COMPONENT = "podpilot-flannel-reporter"


def involved_for(
    node: str | None, node_uids: Mapping[str, str], report: tuple[str, str | None]
) -> ObjectRef:
    """The Node for node findings, else the cluster report (``report`` is its name and uid)."""
    if node is None:
        return ObjectRef(API_VERSION, "FlannelNetworkReport", report[0], uid=report[1])
    return ObjectRef("v1", "Node", node, uid=node_uids.get(node))


def raised_event(finding: Finding, about: ObjectRef) -> EventSpec:
    """The Event for a finding that appeared (or changed severity)."""
    return EventSpec(
        about,
        type="Normal" if finding.severity is Severity.INFO else "Warning",
        reason=f"Flannel{finding.name}",
        message=f"{finding.id} ({finding.severity.label}): {finding.message}",
        component=COMPONENT,
    )


def cleared_event(key: FindingKey, old: Active, about: ObjectRef) -> EventSpec:
    """The Event for a finding that is no longer present."""
    return EventSpec(
        about,
        type="Normal",
        reason="FlannelFindingResolved",
        message=f"{key.id} {old.name} resolved (was {old.severity.label}): {old.message}",
        component=COMPONENT,
    )
