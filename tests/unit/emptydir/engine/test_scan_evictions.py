"""A scan with evictions of gone pods (from Events) and node findings (ED013)."""

from datetime import timedelta
from typing import Any

from podpilot.emptydir.api.policy import parse_policy
from podpilot.emptydir.engine.eviction_log import EvictionNotice
from podpilot.emptydir.engine.model import PodRef, WorkloadRef
from podpilot.emptydir.engine.objects import slim_pod
from podpilot.emptydir.engine.report import cluster_status
from podpilot.emptydir.engine.scan import ScanResult, Snapshot, run_scan
from podpilot.emptydir.engine.series import gauge_values, new_evictions
from podpilot.emptydir.engine.summary import NodeStatsState, parse_summary

from ..helpers import GI, NOW, pod
from .test_scan_series import NODE

MESSAGE = 'Usage of EmptyDir volume "data" exceeds the limit "4Mi". '
WEB = WorkloadRef("Deployment", "web", "ns", "uid-web", "apps/v1")
PARENTS = {("ns", "ReplicaSet", "web-1"): WEB}
DATA = [{"name": "data", "emptyDir": {"sizeLimit": "4Mi"}}]


def web_pod(name: str = "web-1-a", **extra: Any) -> dict[str, Any]:
    return slim_pod(pod(name, owner=("ReplicaSet", "web-1"), volumes=DATA, **extra))


def evicted(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": {"phase": "Failed", "reason": "Evicted", "message": MESSAGE}}


def notice_of(body: dict[str, Any] | None, uid: str = "uid-web-1-a") -> EvictionNotice:
    return EvictionNotice(PodRef("ns", "web-1-a", uid), MESSAGE, NOW - timedelta(seconds=30), body)


def scan(
    pods: list[dict[str, Any]],
    notices: list[EvictionNotice],
    *,
    stats: dict[str, NodeStatsState] | None = None,
    **policy: Any,
) -> ScanResult:
    return run_scan(
        Snapshot(
            pods=pods,
            nodes={"node-a": NODE},
            namespace_labels={"ns": {"audit": "yes"}},
            stats=stats or {},
            history={},
            parents=PARENTS,
            policy=parse_policy(policy),
            now=NOW,
            evictions=notices,
        )
    )


def eviction_findings(result: ScanResult) -> list[tuple[str, str, str | None, str]]:
    return [
        (r.workload.name, f.id, f.volume, f.pod.uid)
        for r in result.reports
        for f in r.findings
        if f.id == "ED020"
    ]


def test_a_deleted_pods_eviction_is_traced_to_its_volume_in_its_workloads_report() -> None:
    live = web_pod("web-1-b")
    result = scan([live], [notice_of(web_pod())])

    assert eviction_findings(result) == [("web", "ED020", "data", "uid-web-1-a")]
    (report,) = result.reports
    finding = next(f for f in report.findings if f.id == "ED020")
    assert ("tracedFrom", "EvictedEvent") in finding.evidence
    assert [r.spec.pod.uid for r in report.records] == ["uid-web-1-b"]  # no volume of the gone pod
    assert {f.id for f in report.findings if f.pod.uid == "uid-web-1-a"} == {"ED020"}
    assert result.rollup.pods_audited == 1


def test_an_evicted_pod_still_present_counts_once() -> None:
    body = evicted(web_pod())
    result = scan([body], [notice_of(body)])
    assert eviction_findings(result) == [("web", "ED020", "data", "uid-web-1-a")]
    finding = next(f for r in result.reports for f in r.findings if f.id == "ED020")
    assert ("tracedFrom", "EvictedEvent") not in finding.evidence  # from the pod's own status


def test_the_eviction_is_counted_once_as_the_pod_goes_from_present_to_gone() -> None:
    seen: set[str] = set()
    body = evicted(web_pod())
    first = scan([body], [notice_of(body)])
    second = scan([], [notice_of(body)])
    counted = new_evictions(first.audits, seen) + new_evictions(second.audits, seen)
    assert counted == [("ns", "Deployment", "web", "emptydir")]
    assert eviction_findings(second) == [("web", "ED020", "data", "uid-web-1-a")]
    values = gauge_values(second.audits, pod_granularity=False).values
    assert values["findings"] == {("ns", "Deployment", "web", "ED020", "critical"): 1.0}
    assert "volumes" not in values


def test_a_notice_without_a_copy_of_its_pod_cannot_be_attributed() -> None:
    assert scan([], [notice_of(None)]).reports == ()


def test_a_deleted_bare_pod_has_no_report_to_go_to() -> None:
    bare = slim_pod(pod("web-1-a", volumes=DATA))
    assert scan([], [notice_of(bare)]).reports == ()


def test_the_policy_still_selects_and_exempts_gone_pods() -> None:
    outside = slim_pod(pod("x", namespace="other", volumes=DATA))
    exempt = web_pod()
    exempt["metadata"]["annotations"] = {"podpilot.io/emptydir-audit-exempt": "ED020"}
    result = scan(
        [],
        [notice_of(outside, uid="uid-x"), notice_of(exempt)],
        namespaceSelector={"matchLabels": {"audit": "yes"}},
    )
    assert result.reports == ()


def summary_with_node_fs(volumes: dict[str, int]) -> NodeStatsState:
    document = {
        "node": {"nodeName": "node-a", "fs": {"capacityBytes": 10 * GI, "usedBytes": 8 * GI}},
        "pods": [
            {
                "podRef": {"name": "big", "namespace": "ns", "uid": "uid-big"},
                "volume": [
                    {"name": n, "time": "2025-03-01T10:00:20Z", "usedBytes": u}
                    for n, u in volumes.items()
                ],
            }
        ],
    }
    return NodeStatsState(summary=parse_summary(document), last_success=NOW)


BIG = [{"name": "data", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}]


def test_a_node_dominated_by_disk_emptydirs_is_on_the_policy_status() -> None:
    stats = summary_with_node_fs({"data": 6 * GI, "shm": 1 * GI})
    result = scan([slim_pod(pod("big", volumes=BIG))], [], stats={"node-a": stats})

    status = cluster_status(result.rollup)
    (entry,) = status["nodeFindings"]
    assert entry["id"] == "ED013" and entry["node"] == "node-a"
    assert entry["evidence"]["emptyDirUsedBytes"] == str(6 * GI)  # tmpfs is not on nodefs
    assert status["findings"]["info"] >= 1
    assert all(f.id != "ED013" for r in result.reports for f in r.findings)


def test_tmpfs_never_makes_a_node_dominated() -> None:
    stats = summary_with_node_fs({"data": 1 * GI, "shm": 8 * GI})
    result = scan([slim_pod(pod("big", volumes=BIG))], [], stats={"node-a": stats})
    assert cluster_status(result.rollup)["nodeFindings"] == []


def test_pods_outside_the_policys_namespaces_still_count_for_the_node() -> None:
    stats = summary_with_node_fs({"data": 6 * GI})
    body = slim_pod(pod("big", namespace="other", volumes=BIG[:1]))
    result = scan(
        [body], [], stats={"node-a": stats}, namespaceSelector={"matchLabels": {"audit": "yes"}}
    )
    assert result.audits == ()
    assert [f.node for f in result.rollup.node_findings] == ["node-a"]
