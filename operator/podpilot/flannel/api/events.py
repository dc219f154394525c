"""core/v1 Events for finding transitions: on the Node for node findings, on the
FlannelNetworkReport ``cluster`` for cluster findings.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podpilot.apimachinery.group import API_VERSION
from podpilot.flannel.engine.findings import Finding, Severity
from podpilot.flannel.engine.transitions import Active, FindingKey

COMPONENT = "podpilot-flannel-reporter"
# Events about cluster-scoped objects live in "default", as kubectl and the kubelet do it.
EVENT_NAMESPACE = "default"
MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    api_version: str
    kind: str
    name: str
    uid: str | None


def involved_for(
    node: str | None, node_uids: Mapping[str, str], report: tuple[str, str | None]
) -> Involved:
    """The Node for node findings, else the cluster report (``report`` is its name and uid)."""
    if node is None:
        return Involved(API_VERSION, "FlannelNetworkReport", report[0], report[1])
    return Involved("v1", "Node", node, node_uids.get(node))


def raised_event(finding: Finding, about: Involved, now: datetime) -> dict[str, Any]:
    """The Event for a finding that appeared (or changed severity)."""
    return _event(
        about,
        type_="Normal" if finding.severity is Severity.INFO else "Warning",
        reason=f"Flannel{finding.name}",
        message=f"{finding.id} ({finding.severity.label}): {finding.message}",
        now=now,
    )


def cleared_event(key: FindingKey, old: Active, about: Involved, now: datetime) -> dict[str, Any]:
    """The Event for a finding that is no longer present."""
    return _event(
        about,
        type_="Normal",
        reason="FlannelFindingResolved",
        message=f"{key[0]} {old.name} resolved (was {old.severity.label}): {old.message}",
        now=now,
    )


def _event(
    about: Involved, *, type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: dict[str, Any] = {
        "apiVersion": about.api_version,
        "kind": about.kind,
        "name": about.name,
    }
    if about.uid:
        involved["uid"] = about.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{about.name}.{uuid.uuid4().hex[:16]}",
            "namespace": EVENT_NAMESPACE,
        },
        "involvedObject": involved,
        "type": type_,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
