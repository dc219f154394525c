"""What the Events that announce findings say, on the finding's pod (the app's handlers post them).

The Event bodies themselves are :mod:`podpilot.apimachinery.events`.
"""

from __future__ import annotations

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.emptydir.engine.model import Finding, Severity

COMPONENT = "podpilot-emptydir-audit"


def event_type(finding: Finding) -> str:
    """``Warning`` for warning and critical findings, ``Normal`` for info."""
    return "Normal" if finding.severity is Severity.INFO else "Warning"


def finding_event(finding: Finding) -> EventSpec:
    """The Event announcing ``finding`` on its pod: reason = finding name, message = its text."""
    pod = ObjectRef("v1", "Pod", finding.pod.name, finding.pod.namespace, finding.pod.uid)
    return EventSpec(pod, event_type(finding), finding.name, finding.message, COMPONENT)
