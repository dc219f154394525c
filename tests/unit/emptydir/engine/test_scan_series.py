"""A full scan over the model, and the gauge values it yields: unknown is absent, never zero."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from podpilot.emptydir.api.policy import parse_policy
from podpilot.emptydir.engine.audit_policy import AuditPolicy
from podpilot.emptydir.engine.model import NodeFacts, WorkloadRef
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.report import cluster_status
from podpilot.emptydir.engine.scan import ScanResult, Snapshot, run_scan, volumes_by_node
from podpilot.emptydir.engine.series import gauge_values, new_evictions
from podpilot.emptydir.engine.summary import NodeStatsState, parse_summary

from ..helpers import GI, MI, NOW, pod, summary_document

NODE = NodeInfo(NodeFacts("node-a", allocatable_memory_bytes=8 * GI), kwok=False)


def scan(
    pods: list[dict[str, Any]],
    *,
    stats: Mapping[str, NodeStatsState] | None = None,
    policy: AuditPolicy | None = None,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    parents: Mapping[tuple[str, str, str], WorkloadRef] | None = None,
) -> ScanResult:
    return run_scan(
        Snapshot(
            pods=pods,
            nodes={"node-a": NODE},
            namespace_labels=namespace_labels or {},
            stats=stats or {},
            history={},
            parents=parents or {},
            policy=policy or AuditPolicy(),
            now=NOW,
        )
    )


def fresh(uid: str, volume: str, used: int, capacity: int | None = None) -> NodeStatsState:
    summary = parse_summary(summary_document(uid, volume, used, capacity))
    return NodeStatsState(summary=summary, last_success=NOW - timedelta(seconds=5))


def test_the_policy_selects_namespaces_and_exempts_pods() -> None:
    policy = parse_policy(
        {
            "namespaceSelector": {"matchLabels": {"audit": "yes"}},
            "exemptions": {"podLabels": {"skip": "1"}},
        }
    )
    pods = [
        pod("in", namespace="a"),
        pod("out", namespace="b"),
        pod("skipped", namespace="a", labels={"skip": "1"}),
    ]
    result = scan(pods, policy=policy, namespace_labels={"a": {"audit": "yes"}, "b": {}})
    assert [a.pod.name for a in result.audits] == ["in"]
    assert result.rollup.pods_audited == 1


def test_replicasets_roll_up_to_their_resolved_deployment() -> None:
    web = WorkloadRef("Deployment", "web", "ns", "uid-web", "apps/v1")
    result = scan(
        [pod("a", owner=("ReplicaSet", "web-1")), pod("b", owner=("ReplicaSet", "web-1"))],
        parents={("ns", "ReplicaSet", "web-1"): web},
    )
    assert [r.workload for r in result.reports] == [web]
    assert result.reports[0].summary.volumes == 2


def test_volumes_without_stats_have_no_usage_series() -> None:
    values = gauge_values(scan([pod()]).audits, pod_granularity=False).values
    assert "volume_used_bytes" not in values
    assert "volume_utilization_ratio" not in values
    assert values["volumes"] == {("ns", "Pod", "p", "disk", "Unavailable"): 1.0}
    assert ("ns", "Pod", "p", "ED030", "info") in values["findings"]


def test_usage_series_with_fresh_stats() -> None:
    volumes = [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    result = scan(
        [pod(volumes=volumes, limits={"memory": "1Gi"})],
        stats={"node-a": fresh("uid-p", "shm", 16 * MI, capacity=64 * MI)},
    )
    values = gauge_values(result.audits, pod_granularity=True).values
    labels = ("ns", "Pod", "p", "shm", "memory", "p", "node-a")
    assert values["volume_used_bytes"] == {labels: 16 * MI}
    assert values["volume_utilization_ratio"] == {labels: 0.25}
    assert values["volume_size_limit_bytes"] == {labels: 64 * MI}
    assert values["volume_effective_limit_bytes"] == {(*labels, "sizeLimit"): 64 * MI}
    assert values["tmpfs_size_bytes"] == {
        (*labels, "expected"): 64 * MI,
        (*labels, "observed"): 64 * MI,
    }


def test_workload_granularity_shares_a_series_and_shows_the_worst_pod() -> None:
    pods = [pod(n, owner=("StatefulSet", "db"), volumes=[
        {"name": "data", "emptyDir": {"sizeLimit": "100Mi"}}
    ]) for n in ("db-0", "db-1")]  # fmt: skip
    stats = NodeStatsState(
        summary=parse_summary(
            {
                "pods": [
                    {
                        "podRef": {"uid": f"uid-{n}"},
                        "volume": [
                            {"name": "data", "time": "2025-03-01T10:00:20Z", "usedBytes": u}
                        ],
                    }
                    for n, u in (("db-0", 10 * MI), ("db-1", 60 * MI))
                ]
            }
        ),
        last_success=NOW,
    )
    values = gauge_values(scan(pods, stats={"node-a": stats}).audits, False).values
    labels = ("ns", "StatefulSet", "db", "data", "disk", "", "")
    assert values["volume_used_bytes"] == {labels: 60 * MI}
    assert values["volumes"] == {("ns", "StatefulSet", "db", "disk", "Fresh"): 2.0}


def test_evicted_pods_count_once_and_leave_no_volume_series() -> None:
    message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Gi". '
    evicted = pod(status={"phase": "Failed", "reason": "Evicted", "message": message})
    audits = scan([evicted]).audits
    values = gauge_values(audits, False).values
    assert "volumes" not in values
    assert ("ns", "Pod", "p", "ED020", "critical") in values["findings"]
    seen: set[str] = set()
    assert new_evictions(audits, seen) == [("ns", "Pod", "p", "emptydir")]
    assert new_evictions(audits, seen) == []


def test_evicted_pods_of_a_workload_do_not_repeat_its_spec_findings() -> None:
    message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Gi". '
    running = pod("db-0", owner=("StatefulSet", "db"))
    evicted = [
        pod(
            f"db-0-{attempt}",
            owner=("StatefulSet", "db"),
            status={"phase": "Failed", "reason": "Evicted", "message": message},
        )
        for attempt in range(5)
    ]

    result = scan([running, *evicted])
    findings = gauge_values(result.audits, False).values["findings"]
    status = cluster_status(result.rollup)

    # The unbounded volume is one risk of the one running pod; each eviction happened once.
    assert findings[("ns", "StatefulSet", "db", "ED001", "critical")] == 1.0
    assert findings[("ns", "StatefulSet", "db", "ED020", "critical")] == 5.0
    assert status["findings"]["critical"] == 6
    assert status["volumes"] == {"disk": 1, "memory": 0}
    assert all({f.id for f in a.findings} == {"ED020"} for a in result.audits if a.finished)


def test_policy_status_counts_every_volume_beyond_the_report_cap() -> None:
    pods = [pod(f"web-{index}", owner=("StatefulSet", "web")) for index in range(120)]

    result = scan(pods)
    (report,) = result.reports
    status = cluster_status(result.rollup)

    assert (len(report.records), report.omitted_volumes) == (50, 70)
    assert status["podsAudited"] == 120
    assert status["volumes"] == {"disk": 120, "memory": 0}


def test_volumes_by_node_lists_emptydirs_of_scheduled_pods() -> None:
    pods = [
        pod("a", volumes=[{"name": "x", "emptyDir": {}}, {"name": "c", "configMap": {}}]),
        pod("pending", node=None),
    ]
    assert volumes_by_node(pods) == {"node-a": {("uid-a", "x")}}
