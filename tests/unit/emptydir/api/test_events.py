"""The Events that announce findings: type, reason and message, on the finding's pod."""

from podpilot.apimachinery.events import ObjectRef
from podpilot.emptydir.api.events import COMPONENT, event_type, finding_event
from podpilot.emptydir.engine.model import Finding, PodRef, Severity

POD = PodRef("ns", "p", "uid-p")


def finding(severity: Severity = Severity.WARNING) -> Finding:
    return Finding(id="ED001", name="Name", severity=severity, message="m", pod=POD, volume="v")


def test_event_types() -> None:
    assert event_type(finding(severity=Severity.INFO)) == "Normal"
    assert event_type(finding(severity=Severity.WARNING)) == "Warning"
    assert event_type(finding(severity=Severity.CRITICAL)) == "Warning"


def test_the_event_names_the_pod_and_carries_the_finding() -> None:
    event = finding_event(finding(severity=Severity.CRITICAL))
    assert event.about == ObjectRef("v1", "Pod", name="p", namespace="ns", uid="uid-p")
    assert (event.type, event.reason, event.message) == ("Warning", "Name", "m")
    assert event.component == COMPONENT == "podpilot-emptydir-audit"
