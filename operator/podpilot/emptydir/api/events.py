"""The wording of the Events that announce findings on their pod (posted by the app's handlers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podpilot.emptydir.engine.model import Finding, Severity


@dataclass(frozen=True)
class FindingEvent:
    """One Event: about ``involved_object``, of ``type``, with ``reason`` and ``message``."""

    involved_object: dict[str, Any]
    type: str
    reason: str
    message: str


def event_type(finding: Finding) -> str:
    """``Warning`` for warning and critical findings, ``Normal`` for info."""
    return "Normal" if finding.severity is Severity.INFO else "Warning"


def finding_event(finding: Finding) -> FindingEvent:
    """The Event announcing ``finding`` on its pod: reason = finding name, message = its text."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": finding.pod.name,
            "namespace": finding.pod.namespace,
            "uid": finding.pod.uid,
        },
    }
    return FindingEvent(pod, event_type(finding), finding.name, finding.message)
