"""EmptyDirReport manifests, conditions and when a status is worth writing."""

from datetime import datetime, timedelta

from podpilot.emptydir.api.report_objects import (
    MAX_FINDINGS,
    owner_reference,
    report_conditions,
    report_manifest,
    report_status_body,
    status_digest,
)
from podpilot.emptydir.engine.audit_policy import AuditPolicy
from podpilot.emptydir.engine.model import WorkloadRef
from podpilot.emptydir.engine.report import WorkloadReport, report_status
from podpilot.emptydir.engine.scan import Snapshot, run_scan

from ..helpers import NOW, pod


def one_report(now: datetime = NOW) -> WorkloadReport:
    snapshot = Snapshot(
        pods=[pod(owner=("Deployment", "web"))],
        nodes={},
        namespace_labels={},
        stats={},
        history={},
        parents={},
        policy=AuditPolicy(),
        now=now,
    )
    return run_scan(snapshot).reports[0]


def test_the_manifest_is_owned_by_the_workload_and_labelled() -> None:
    manifest = report_manifest(one_report())
    assert manifest["metadata"]["name"] == "deployment-web"
    assert manifest["metadata"]["namespace"] == "ns"
    assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "podpilot"
    assert manifest["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": "uid-web",
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    assert manifest["spec"]["workload"]["kind"] == "Deployment"


def test_no_owner_reference_without_a_uid() -> None:
    assert owner_reference(WorkloadRef("Deployment", "web", "ns", None, "apps/v1")) is None


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    report = one_report()
    first = report_conditions(report, [], NOW)
    later = NOW + timedelta(minutes=5)
    again = report_conditions(report, first, later)
    assert [c["lastTransitionTime"] for c in again] == [c["lastTransitionTime"] for c in first]
    stats = next(c for c in again if c["type"] == "StatsComplete")
    assert (stats["status"], stats["reason"]) == ("False", "Unavailable")
    flipped = [dict(c, status="True") for c in first]
    changed = report_conditions(report, flipped, later)
    stats = next(c for c in changed if c["type"] == "StatsComplete")
    assert stats["lastTransitionTime"] == "2025-03-01T10:05:30Z"


def test_the_digest_ignores_scan_times_but_not_content() -> None:
    a = report_status_body(one_report(), [], NOW)
    b = report_status_body(one_report(NOW + timedelta(seconds=30)), [], NOW + timedelta(seconds=30))
    assert a["lastScanTime"] != b["lastScanTime"]
    assert status_digest(a) == status_digest(b)
    changed = dict(a, findings=[])
    assert status_digest(changed) != status_digest(a)


def test_the_status_body_is_the_pure_rendering_plus_conditions() -> None:
    report = one_report()
    body = report_status_body(report, [], NOW)
    assert {k: v for k, v in body.items() if k != "conditions"} == report_status(report)


def test_findings_are_capped_at_the_crd_limit_worst_first() -> None:
    pods = [pod(f"p{i}", owner=("DaemonSet", "agent")) for i in range(300)]
    snapshot = Snapshot(
        pods=pods,
        nodes={},
        namespace_labels={},
        stats={},
        history={},
        parents={},
        policy=AuditPolicy(),
        now=NOW,
    )
    report = run_scan(snapshot).reports[0]
    assert len(report.findings) == 600  # ED001 (critical) and ED030 (info) per pod
    body = report_status_body(report, [], NOW)
    assert len(body["findings"]) == MAX_FINDINGS
    assert body["findings"][0]["severity"] == "critical"
    assert body["summary"]["findings"] == {"info": 300, "warning": 0, "critical": 300}
