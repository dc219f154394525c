"""Every finding through audit_pod, exemptions, staleness, and the workload/cluster roll-ups."""

from datetime import timedelta
from typing import Any

import pytest

from podpilot.emptydir.engine.catalogue import CATALOGUE
from podpilot.emptydir.engine.model import FsSample, NodeFacts, PodRef, Severity, StatsFreshness
from podpilot.emptydir.engine.pod_audit import EXEMPT_ANNOTATION, Exemptions, PodAudit, audit_pod
from podpilot.emptydir.engine.report import (
    StatsCompleteness,
    cluster_rollup,
    cluster_status,
    report_name,
    report_status,
    rollup,
    rollup_all,
)
from podpilot.emptydir.engine.summary import NodeStatsState, NodeSummary, PodUsage, parse_summary
from podpilot.emptydir.engine.trend import SampleRing, UsagePoint

from .helpers import GI, MI, NOW, WORKER_1, container, empty_dir, load, pod

FRESH = NOW - timedelta(seconds=30)


def stats_for(
    volumes: dict[str, FsSample], uid: str = "uid-p", failures: int = 0
) -> NodeStatsState:
    summary = NodeSummary("worker-1", None, {uid: PodUsage(PodRef("ns", "p", uid), volumes)})
    return NodeStatsState(summary, FRESH, failures, "timeout" if failures else None)


def run(
    body: dict[str, Any],
    stats: NodeStatsState | None = None,
    history: dict[tuple[str, str], SampleRing] | None = None,
    node: NodeFacts | None = WORKER_1,
) -> PodAudit:
    return audit_pod(body, node=node, stats=stats, history=history or {}, now=NOW)


def ids(audit: PodAudit) -> list[tuple[str, str | None, Severity]]:
    return sorted((f.id, f.volume, f.severity) for f in audit.findings)


@pytest.mark.parametrize(
    ("volumes", "containers", "expected"),
    [
        pytest.param(
            [empty_dir("v")],
            [container("a")],
            ("ED001", Severity.CRITICAL),
            id="ED001 disk, no sizeLimit, no pod ephemeral limit",
        ),
        pytest.param(
            [empty_dir("v")],
            [container("a", {"ephemeral-storage": "1Gi"})],
            ("ED001", Severity.WARNING),
            id="ED001 disk, no sizeLimit, pod ephemeral limit",
        ),
        pytest.param(
            [empty_dir("m", "Memory")],
            [container("a")],
            ("ED002", Severity.CRITICAL),
            id="ED002 memory, no sizeLimit, no memory limits",
        ),
        pytest.param(
            [empty_dir("m", "Memory")],
            [container("a", {"memory": "1Gi"})],
            ("ED002", Severity.WARNING),
            id="ED002 memory, no sizeLimit, pod memory limit",
        ),
        pytest.param(
            [empty_dir("m", "Memory", "2Gi")],
            [container("a", {"memory": "1Gi"})],
            ("ED003", Severity.WARNING),
            id="ED003 memory sizeLimit above pod memory limit",
        ),
        pytest.param(
            [empty_dir("m", "Memory", "2Gi")],
            [container("a", {"memory": "1Gi"}, mounts=("m",)), container("b")],
            ("ED003", Severity.WARNING),
            id="ED003 memory sizeLimit above the writing container's limit",
        ),
        pytest.param(
            [empty_dir("v", size_limit="2Gi")],
            [container("a", {"ephemeral-storage": "2Gi"})],
            ("ED004", Severity.WARNING),
            id="ED004 disk sizeLimit not below pod ephemeral limit",
        ),
        pytest.param(
            [empty_dir("v", size_limit="500Gi")],
            [container("a")],
            ("ED005", Severity.INFO),
            id="ED005 sizeLimit above node allocatable",
        ),
        pytest.param(
            [empty_dir("m", "Memory", "1Gi")],
            [container("a", {"ephemeral-storage": "1Gi"})],
            ("ED007", Severity.INFO),
            id="ED007 ephemeral limit does not cover tmpfs",
        ),
        pytest.param(
            [empty_dir("h", "HugePages-2Mi")],
            [container("a", {"hugepages-2Mi": "64Mi"})],
            ("ED008", Severity.INFO),
            id="ED008 hugepages volume",
        ),
        pytest.param(
            [empty_dir("v", "Tape", "1Gi")],
            [container("a")],
            ("ED031", Severity.WARNING),
            id="ED031 unknown medium",
        ),
        pytest.param(
            [empty_dir("v", size_limit="1 Gi")],
            [container("a")],
            ("ED031", Severity.WARNING),
            id="ED031 invalid quantity",
        ),
    ],
)
def test_static_findings(
    volumes: list[dict[str, Any]], containers: list[dict[str, Any]], expected: tuple[str, Severity]
) -> None:
    audit = run(pod(volumes, containers))

    assert expected in [(f.id, f.severity) for f in audit.findings]


def test_well_bounded_volumes_have_no_static_findings() -> None:
    body = pod(
        [empty_dir("v", size_limit="1Gi"), empty_dir("m", "Memory", "256Mi")],
        [container("a", {"ephemeral-storage": "4Gi", "memory": "1Gi"}, mounts=("v", "m"))],
    )
    usage = {
        "v": FsSample(time=FRESH, used_bytes=10 * MI),
        "m": FsSample(time=FRESH, used_bytes=MI, capacity_bytes=256 * MI),
    }

    audit = run(body, stats_for(usage))

    assert audit.findings == ()
    assert {r.freshness for r in audit.records} == {StatsFreshness.FRESH}


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        pytest.param(700 * MI, None, id="below warn ratio"),
        pytest.param(850 * MI, Severity.WARNING, id="warning at 80%"),
        pytest.param(1000 * MI, Severity.CRITICAL, id="critical at 95%"),
    ],
)
def test_near_limit_ed010(used: int, expected: Severity | None) -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])

    audit = run(body, stats_for({"v": FsSample(time=FRESH, used_bytes=used)}))

    assert [f.severity for f in audit.findings if f.id == "ED010"] == (
        [expected] if expected else []
    )


def test_projected_full_ed011_uses_the_ring() -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])
    ring = SampleRing()
    for minute, used in enumerate((400, 450, 500)):
        ring = ring.with_point(UsagePoint(FRESH - timedelta(minutes=2 - minute), used * MI))

    audit = run(
        body, stats_for({"v": FsSample(time=FRESH, used_bytes=500 * MI)}), {("uid-p", "v"): ring}
    )

    (record,) = audit.records
    assert record.seconds_to_limit == pytest.approx((1024 - 500) / 50 * 60)
    assert ("ED011", "v", Severity.WARNING) in ids(audit)


def test_inodes_low_ed012() -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])
    sample = FsSample(time=FRESH, used_bytes=MI, inodes=1000, inodes_free=50, inodes_used=900)

    assert ("ED012", "v", Severity.WARNING) in ids(run(body, stats_for({"v": sample})))


@pytest.mark.parametrize(
    ("observed", "expect_finding"),
    [
        pytest.param(256 * MI, False, id="matches"),
        pytest.param(256 * MI + 4096, False, id="within a page"),
        pytest.param(8 * GI, True, id="kernel default half of RAM"),
    ],
)
def test_tmpfs_size_mismatch_ed006(observed: int, expect_finding: bool) -> None:
    body = pod([empty_dir("m", "Memory", "256Mi")], [container("a", {"memory": "1Gi"})])
    sample = FsSample(time=FRESH, used_bytes=MI, capacity_bytes=observed)

    audit = run(body, stats_for({"m": sample}))

    assert any(f.id == "ED006" for f in audit.findings) is expect_finding


def test_unreachable_summary_gives_ed030_and_no_made_up_zero() -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])
    forbidden = NodeStatsState(None, None, consecutive_failures=5, last_error="403 Forbidden")

    audit = run(body, forbidden)

    (record,) = audit.records
    assert (record.freshness, record.usage, record.utilization) == (
        StatsFreshness.UNAVAILABLE,
        None,
        None,
    )
    (finding,) = audit.findings
    assert (finding.id, finding.severity) == ("ED030", Severity.WARNING)
    assert "403 Forbidden" in finding.message


def test_volume_missing_from_summary_is_ed030_info() -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])

    audit = run(body, stats_for({}, uid="someone-else"))

    assert ids(audit) == [("ED030", "v", Severity.INFO)]


def test_failing_node_marks_last_sample_stale_ed032() -> None:
    body = pod([empty_dir("v", size_limit="1Gi")], [container("a")])
    old = FsSample(time=NOW - timedelta(minutes=10), used_bytes=100 * MI)

    audit = run(body, stats_for({"v": old}, failures=2))

    (record,) = audit.records
    assert record.freshness is StatsFreshness.STALE
    assert record.usage is not None and record.usage.used_bytes == 100 * MI
    assert ids(audit) == [("ED032", "v", Severity.INFO)]


def test_evicted_pod_keeps_eviction_finding_without_stats_noise() -> None:
    audit = run(load("pod_evicted_emptydir.json"))

    assert audit.finished
    assert ids(audit) == [("ED020", "data", Severity.CRITICAL)]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pod_drops_spec_findings(phase: str) -> None:
    body = pod(
        [empty_dir("disk"), empty_dir("tmp", medium="Memory", size_limit="lots")],
        [container("a", mounts=("disk", "tmp"))],
        status={"phase": phase},
    )

    audit = run(body)

    assert audit.finished
    assert [r.spec.name for r in audit.records] == ["disk", "tmp"]
    assert ids(audit) == []


def test_finished_pod_keeps_its_oom_kill_with_tmpfs() -> None:
    body = pod(
        [empty_dir("tmp", medium="Memory")],
        [container("a", {"memory": "1Gi"}, mounts=("tmp",))],
        status={
            "phase": "Failed",
            "containerStatuses": [
                {"name": "a", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ],
        },
    )

    assert [finding[0] for finding in ids(run(body))] == ["ED023"]


def test_exemptions_from_policy_annotation_and_volume_pattern() -> None:
    body = pod(
        [empty_dir("v"), empty_dir("m", "Memory"), empty_dir("scratch-tmp")],
        [container("a")],
        annotations={EXEMPT_ANNOTATION: "ed002"},
    )

    audit = audit_pod(
        body,
        node=WORKER_1,
        stats=None,
        history={},
        now=NOW,
        exemptions=Exemptions(frozenset({"ED030"}), volume_name_pattern="scratch-.*"),
    )

    assert ids(audit) == [("ED001", "v", Severity.CRITICAL)]
    assert [r.spec.name for r in audit.records] == ["v", "m"]


def test_catalogue_ids_are_unique_and_stable() -> None:
    assert sorted(CATALOGUE) == [
        "ED001",
        "ED002",
        "ED003",
        "ED004",
        "ED005",
        "ED006",
        "ED007",
        "ED008",
        "ED010",
        "ED011",
        "ED012",
        "ED013",
        "ED020",
        "ED021",
        "ED022",
        "ED023",
        "ED024",
        "ED030",
        "ED031",
        "ED032",
    ]
    assert len({kind.name for kind in CATALOGUE.values()}) == len(CATALOGUE)


def test_workload_report_from_real_fixtures() -> None:
    web = load("pod_web.json")
    stats = NodeStatsState(parse_summary(load("summary_worker-1.json")), FRESH)
    audit = run(web, stats)

    (report,) = rollup_all([audit], NOW)
    status = report_status(report)

    assert report_name(report.workload) == "replicaset-web-7d9f8c6b5"
    assert status["workloadName"] == "ReplicaSet/web-7d9f8c6b5"
    assert status["summary"] == {
        "volumes": 2,
        "memoryBacked": 1,
        "unbounded": 0,
        "maxUtilization": "60.0%",
        "worstSeverity": "warning",
        "stats": "Complete",
        "oldestStatsAgeSeconds": 39,
        "findings": {"info": 0, "warning": 1, "critical": 0},
    }
    cache = next(v for v in status["volumes"] if v["volume"] == "cache")
    assert cache["limitSource"] == "podEphemeralStorageLimit"
    assert cache["usedBytes"] == 1288490188
    assert "sizeLimitBytes" not in cache
    assert status["findings"][0]["id"] == "ED001"


def test_rollup_caps_volumes_worst_first_and_counts_unbounded() -> None:
    audits = []
    for index in range(3):
        body = pod([empty_dir("v")], [container("a")])
        body["metadata"].update(name=f"p{index}", uid=f"u{index}")
        audits.append(run(body, None, node=None if index else WORKER_1))

    report = rollup(audits[0].workload, audits, NOW, max_volumes=2)

    assert report.omitted_volumes == 1
    assert report.summary.unbounded == 3
    assert report.summary.stats is StatsCompleteness.UNAVAILABLE
    assert report.summary.max_utilization is None
    assert report.records[0].spec.pod.name == "p0"  # ED001 critical + ED030 ranks first


def test_cluster_rollup_counts_the_volumes_the_report_cap_left_out() -> None:
    audits = []
    for index, medium in enumerate([None, None, "Memory", None]):
        body = pod([empty_dir("v", medium=medium)], [container("a")])
        body["metadata"].update(name=f"p{index}", uid=f"u{index}")
        audits.append(run(body))
    reports = [rollup(audits[0].workload, audits, NOW, max_volumes=1)]

    status = cluster_status(cluster_rollup(reports, pods_audited=4, nodes={}, now=NOW))

    assert len(reports[0].records) == 1
    assert status["volumes"] == {"disk": 3, "memory": 1}


def test_cluster_rollup_counts_nodes_volumes_and_findings() -> None:
    web = run(
        load("pod_web.json"), NodeStatsState(parse_summary(load("summary_worker-1.json")), FRESH)
    )
    reports = rollup_all([web], NOW)
    nodes = {"worker-1": NodeStatsState(None, FRESH), "kwok-1": NodeStatsState(None, None, 4)}

    status = cluster_status(cluster_rollup(reports, pods_audited=1, nodes=nodes, now=NOW))

    assert status == {
        "nodesPolled": 2,
        "nodesFailing": 1,
        "podsAudited": 1,
        "workloads": 1,
        "volumes": {"disk": 1, "memory": 1},
        "findings": {"info": 0, "warning": 1, "critical": 0},
        "nodeFindings": [],
        "lastFullScan": "2025-03-01T10:00:30Z",
    }
