"""Roll pod audits up per owning workload (``EmptyDirReport``) and per cluster (policy status)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from podpilot.apimachinery.timestamps import format_datetime
from podpilot.emptydir.engine.model import (
    Finding,
    LimitSource,
    Medium,
    NodeFinding,
    Severity,
    StatsFreshness,
    VolumeRecord,
    WorkloadRef,
    severity_rank,
    worst_severity,
)
from podpilot.emptydir.engine.pod_audit import PodAudit
from podpilot.emptydir.engine.summary import NodeStatsState

DEFAULT_MAX_VOLUMES = 50
MAX_NODE_FINDINGS = 100
"""``status.nodeFindings`` maxItems in the EmptyDirAuditPolicy CRD; the counts cover all."""
_UNBOUNDED_SOURCES = frozenset(
    {LimitSource.NONE, LimitSource.NODE_ALLOCATABLE, LimitSource.KERNEL_DEFAULT}
)


class StatsCompleteness(StrEnum):
    """How complete a workload's usage numbers are (the ``STATS`` printer column)."""

    COMPLETE = "Complete"
    PARTIAL = "Partial"
    STALE = "Stale"
    UNAVAILABLE = "Unavailable"
    NOT_APPLICABLE = "NotApplicable"


@dataclass(frozen=True)
class WorkloadSummary:
    """The numbers behind the printer columns.

    Attributes:
        volumes: emptyDir volumes across the workload's live pods, all of them (the report's
            ``records`` are capped; these counts are not).
        disk_backed: How many are on the node's disk (medium ``""``).
        memory_backed: How many are tmpfs.
        unbounded: How many have neither a sizeLimit nor a pod limit binding them.
        max_utilization: Highest utilization with known usage, or ``None``.
        worst_severity: Highest finding severity, or ``None`` with no findings.
        stats: Completeness of the usage numbers.
        oldest_stats_age_seconds: Age of the oldest sample used.
        findings_by_severity: Count of findings per severity.
    """

    volumes: int
    disk_backed: int
    memory_backed: int
    unbounded: int
    max_utilization: float | None
    worst_severity: Severity | None
    stats: StatsCompleteness
    oldest_stats_age_seconds: float | None
    findings_by_severity: tuple[tuple[Severity, int], ...]


@dataclass(frozen=True)
class WorkloadReport:
    """One ``EmptyDirReport``.

    Attributes:
        workload: The owning workload.
        summary: Rolled-up numbers.
        records: Volume records, worst first, at most ``max_volumes``.
        omitted_volumes: How many records were cut by the cap.
        findings: All findings, worst first.
        scanned_at: Audit time.
    """

    workload: WorkloadRef
    summary: WorkloadSummary
    records: tuple[VolumeRecord, ...]
    omitted_volumes: int
    findings: tuple[Finding, ...]
    scanned_at: datetime


@dataclass(frozen=True)
class ClusterRollup:
    """The ``EmptyDirAuditPolicy`` status rollup.

    ``disk_volumes`` and ``memory_volumes`` count every volume of the live pods, including those
    beyond a report's ``maxVolumesPerReport``. ``findings_by_severity`` counts the workload
    reports' findings and the node findings.
    """

    nodes_polled: int
    nodes_failing: int
    pods_audited: int
    workloads: int
    disk_volumes: int
    memory_volumes: int
    findings_by_severity: tuple[tuple[Severity, int], ...]
    last_full_scan: datetime
    node_findings: tuple[NodeFinding, ...] = ()


def report_name(workload: WorkloadRef) -> str:
    """Name of a workload's ``EmptyDirReport``: ``<kind>-<name>`` in lowercase.

    Args:
        workload: The workload.

    Returns:
        A DNS subdomain name, truncated to 253 characters.
    """
    return f"{workload.kind}-{workload.name}".lower()[:253]


def rollup(
    workload: WorkloadRef,
    audits: Sequence[PodAudit],
    now: datetime,
    max_volumes: int = DEFAULT_MAX_VOLUMES,
) -> WorkloadReport:
    """Combine the audits of one workload's pods into its report.

    Finished (e.g. evicted) pods contribute their eviction and OOM findings, not volumes or usage.

    Args:
        workload: The workload.
        audits: Audits of its pods.
        now: Audit time.
        max_volumes: Cap on the records kept.

    Returns:
        The report.
    """
    live = [r for a in audits if not a.finished for r in a.records]
    findings = [f for a in audits for f in a.findings]
    by_volume: dict[tuple[str, str | None], Severity] = {}
    for finding in findings:
        key = (finding.pod.uid, finding.volume)
        if severity_rank(finding.severity) > severity_rank(by_volume.get(key)):
            by_volume[key] = finding.severity
    ordered = sorted(
        live,
        key=lambda r: (
            -severity_rank(by_volume.get((r.spec.pod.uid, r.spec.name))),
            -(r.utilization if r.utilization is not None else -1.0),
            r.spec.pod.name,
            r.spec.name,
        ),
    )
    return WorkloadReport(
        workload=workload,
        summary=_summary(live, findings),
        records=tuple(ordered[:max_volumes]),
        omitted_volumes=max(0, len(ordered) - max_volumes),
        findings=tuple(
            sorted(findings, key=lambda f: (-severity_rank(f.severity), f.id, f.pod.name))
        ),
        scanned_at=now,
    )


def rollup_all(
    audits: Iterable[PodAudit], now: datetime, max_volumes: int = DEFAULT_MAX_VOLUMES
) -> tuple[WorkloadReport, ...]:
    """Group audits by workload and roll each group up.

    Args:
        audits: Pod audits from anywhere in the cluster.
        now: Audit time.
        max_volumes: Cap on the records per report.

    Returns:
        One report per workload that has at least one emptyDir volume or finding.
    """
    groups: dict[tuple[str, str, str], list[PodAudit]] = {}
    workloads: dict[tuple[str, str, str], WorkloadRef] = {}
    for audit in audits:
        if not audit.records and not audit.findings:
            continue
        key = (audit.workload.namespace, audit.workload.kind, audit.workload.name)
        groups.setdefault(key, []).append(audit)
        workloads.setdefault(key, audit.workload)
    return tuple(rollup(workloads[k], groups[k], now, max_volumes) for k in sorted(groups))


def cluster_rollup(
    reports: Sequence[WorkloadReport],
    pods_audited: int,
    nodes: Mapping[str, NodeStatsState],
    now: datetime,
    node_findings: Sequence[NodeFinding] = (),
) -> ClusterRollup:
    """Roll workload reports up for the cluster policy's status.

    Args:
        reports: All workload reports.
        pods_audited: Pods looked at in this scan.
        nodes: Poll state by node name.
        now: Scan time.
        node_findings: Findings about nodes (ED013).

    Returns:
        The rollup.
    """
    findings: list[Finding | NodeFinding] = [f for report in reports for f in report.findings]
    findings.extend(node_findings)
    return ClusterRollup(
        nodes_polled=len(nodes),
        nodes_failing=sum(1 for s in nodes.values() if s.consecutive_failures > 0),
        pods_audited=pods_audited,
        workloads=len(reports),
        disk_volumes=sum(report.summary.disk_backed for report in reports),
        memory_volumes=sum(report.summary.memory_backed for report in reports),
        findings_by_severity=_count_severities(findings),
        last_full_scan=now,
        node_findings=tuple(sorted(node_findings, key=lambda f: (f.node, f.id))),
    )


def report_status(report: WorkloadReport) -> dict[str, Any]:
    """Render a report as the ``status`` of an ``EmptyDirReport`` (JSON-ready, camelCase).

    Args:
        report: The report.

    Returns:
        The status object; unknown values are omitted, never zero.
    """
    summary = report.summary
    return {
        "workloadName": f"{report.workload.kind}/{report.workload.name}",
        "workload": _drop_none(
            {
                "kind": report.workload.kind,
                "name": report.workload.name,
                "apiVersion": report.workload.api_version,
                "uid": report.workload.uid,
            }
        ),
        "summary": _drop_none(
            {
                "volumes": summary.volumes,
                "memoryBacked": summary.memory_backed,
                "unbounded": summary.unbounded,
                "maxUtilization": _percent(summary.max_utilization),
                "worstSeverity": summary.worst_severity.value if summary.worst_severity else "none",
                "stats": summary.stats.value,
                "oldestStatsAgeSeconds": _int(summary.oldest_stats_age_seconds),
                "findings": {s.value: n for s, n in summary.findings_by_severity},
            }
        ),
        "volumes": [_volume_status(r) for r in report.records],
        "omittedVolumes": report.omitted_volumes,
        "findings": [_finding_status(f) for f in report.findings],
        "lastScanTime": format_datetime(report.scanned_at),
    }


def cluster_status(rollup: ClusterRollup) -> dict[str, Any]:
    """Render the cluster rollup as the ``status`` of the ``EmptyDirAuditPolicy``.

    Args:
        rollup: The rollup.

    Returns:
        The status object.
    """
    return {
        "nodesPolled": rollup.nodes_polled,
        "nodesFailing": rollup.nodes_failing,
        "podsAudited": rollup.pods_audited,
        "workloads": rollup.workloads,
        "volumes": {"disk": rollup.disk_volumes, "memory": rollup.memory_volumes},
        "findings": {s.value: n for s, n in rollup.findings_by_severity},
        # Always present, so a merge patch clears the findings of nodes that recovered.
        "nodeFindings": [_finding_status(f) for f in rollup.node_findings][:MAX_NODE_FINDINGS],
        "lastFullScan": format_datetime(rollup.last_full_scan),
    }


def _summary(records: Sequence[VolumeRecord], findings: Sequence[Finding]) -> WorkloadSummary:
    utilizations = [r.utilization for r in records if r.utilization is not None]
    ages = [r.stats_age_seconds for r in records if r.stats_age_seconds is not None]
    return WorkloadSummary(
        volumes=len(records),
        disk_backed=sum(1 for r in records if r.spec.medium is Medium.DISK),
        memory_backed=sum(1 for r in records if r.spec.medium is Medium.MEMORY),
        unbounded=sum(
            1
            for r in records
            if r.spec.medium in (Medium.DISK, Medium.MEMORY)
            and r.spec.limit_source in _UNBOUNDED_SOURCES
        ),
        max_utilization=max(utilizations, default=None),
        worst_severity=worst_severity([f.severity for f in findings]),
        stats=_completeness(records),
        oldest_stats_age_seconds=max(ages, default=None),
        findings_by_severity=_count_severities(findings),
    )


def _completeness(records: Sequence[VolumeRecord]) -> StatsCompleteness:
    if not records:
        return StatsCompleteness.NOT_APPLICABLE
    states = {r.freshness for r in records}
    if states == {StatsFreshness.FRESH}:
        return StatsCompleteness.COMPLETE
    if states == {StatsFreshness.UNAVAILABLE}:
        return StatsCompleteness.UNAVAILABLE
    if StatsFreshness.UNAVAILABLE not in states:
        return StatsCompleteness.STALE
    return StatsCompleteness.PARTIAL


def _count_severities(
    findings: Iterable[Finding | NodeFinding],
) -> tuple[tuple[Severity, int], ...]:
    counts = dict.fromkeys(Severity, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return tuple(counts.items())


def _volume_status(record: VolumeRecord) -> dict[str, Any]:
    spec, usage = record.spec, record.usage
    return _drop_none(
        {
            "pod": spec.pod.name,
            "podUID": spec.pod.uid,
            "node": spec.node_name,
            "volume": spec.name,
            "medium": spec.medium.value,
            "sizeLimitBytes": spec.size_limit_bytes,
            "effectiveLimitBytes": spec.effective_limit_bytes,
            "limitSource": spec.limit_source.value,
            "usedBytes": usage.used_bytes if usage else None,
            "utilization": _percent(record.utilization),
            "inodesUsed": usage.inodes_used if usage else None,
            "inodes": usage.inodes if usage else None,
            "tmpfsSizeExpectedBytes": record.tmpfs_size_expected_bytes,
            "tmpfsSizeObservedBytes": record.tmpfs_size_observed_bytes,
            "secondsToLimit": _int(record.seconds_to_limit),
            "statsTime": format_datetime(usage.time) if usage and usage.time else None,
            "stats": record.freshness.value,
        }
    )


def _finding_status(finding: Finding | NodeFinding) -> dict[str, Any]:
    if isinstance(finding, NodeFinding):
        subject: dict[str, Any] = {"node": finding.node}
    else:
        subject = {
            "pod": finding.pod.name,
            "podUID": finding.pod.uid,
            "volume": finding.volume,
            "container": finding.container,
        }
    return _drop_none(
        {
            "id": finding.id,
            "name": finding.name,
            "severity": finding.severity.value,
            "message": finding.message,
            **subject,
            "evidence": dict(finding.evidence) or None,
        }
    )


def _percent(ratio: float | None) -> str | None:
    # A string, because CRD status numbers are awkward for kubectl printer columns.
    return None if ratio is None else f"{ratio * 100:.1f}%"


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
