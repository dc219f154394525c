"""Findings from a volume's spec (static) and from its usage record (dynamic)."""

from collections.abc import Mapping

from podpilot.emptydir.engine._format import format_bytes, format_seconds
from podpilot.emptydir.engine.catalogue import (
    DISK_NO_SIZE_LIMIT,
    DISK_SIZE_LIMIT_ABOVE_POD_EPHEMERAL_LIMIT,
    EPHEMERAL_LIMIT_IGNORES_TMPFS,
    HUGEPAGES_VOLUME,
    INODES_LOW,
    MEMORY_NO_SIZE_LIMIT,
    MEMORY_SIZE_LIMIT_ABOVE_MEMORY_LIMIT,
    NEAR_LIMIT,
    PROJECTED_FULL,
    SIZE_LIMIT_ABOVE_NODE_ALLOCATABLE,
    SPEC_PARSE_ERROR,
    STATS_STALE,
    STATS_UNAVAILABLE,
    TMPFS_SIZE_MISMATCH,
    FindingKind,
    make_finding,
)
from podpilot.emptydir.engine.model import (
    Finding,
    Medium,
    Severity,
    StatsFreshness,
    Thresholds,
    VolumeRecord,
    VolumeSpec,
)
from podpilot.emptydir.engine.summary import NodeStatsState

PAGE_SIZE = 4096


def spec_findings(volume: VolumeSpec) -> tuple[Finding, ...]:
    """Findings that follow from the pod spec and node facts alone (ED001-ED008, ED031).

    Args:
        volume: The volume with its limits.

    Returns:
        The findings, possibly none.
    """
    found = [_spec_problem(volume, index) for index in range(len(volume.problems))]
    if volume.medium is Medium.DISK:
        found.extend(_disk_findings(volume))
    elif volume.medium is Medium.MEMORY:
        found.extend(_memory_findings(volume))
    elif volume.medium is Medium.HUGEPAGES:
        found.append(
            _volume_finding(
                HUGEPAGES_VOLUME,
                volume,
                f"emptyDir {volume.name!r} is hugetlbfs ({volume.raw_medium}); bounded by the "
                f"pod's hugepages limit {format_bytes(volume.pod_hugepages_limit_bytes)}.",
                evidence={"podHugePagesLimitBytes": volume.pod_hugepages_limit_bytes},
            )
        )
    limit = volume.size_limit_bytes
    allocatable = volume.node_allocatable_bytes
    if limit is not None and allocatable is not None and limit > allocatable:
        found.append(
            _volume_finding(
                SIZE_LIMIT_ABOVE_NODE_ALLOCATABLE,
                volume,
                f"sizeLimit {format_bytes(limit)} of emptyDir {volume.name!r} exceeds node "
                f"allocatable {format_bytes(allocatable)}; it can never bind.",
                evidence={"sizeLimitBytes": limit, "nodeAllocatableBytes": allocatable},
            )
        )
    return tuple(found)


def usage_findings(
    record: VolumeRecord, thresholds: Thresholds, stats: NodeStatsState | None
) -> tuple[Finding, ...]:
    """Findings that need the Summary API (ED006, ED010-ED012, ED030, ED032).

    Args:
        record: The volume joined with its usage.
        thresholds: Audit thresholds.
        stats: The node's poll state, used to say why stats are missing.

    Returns:
        The findings, possibly none.
    """
    if record.freshness is StatsFreshness.UNAVAILABLE:
        return (_stats_unavailable(record, thresholds, stats),)
    found: list[Finding] = []
    if record.freshness is StatsFreshness.STALE:
        found.append(
            _volume_finding(
                STATS_STALE,
                record.spec,
                f"Usage of emptyDir {record.spec.name!r} is "
                f"{format_seconds(record.stats_age_seconds or 0)} old.",
                evidence={
                    "statsAgeSeconds": _round(record.stats_age_seconds),
                    "lastError": stats.last_error if stats else None,
                },
            )
        )
    found.extend(_near_limit(record, thresholds))
    found.extend(_projected_full(record, thresholds))
    found.extend(_inodes_low(record, thresholds))
    found.extend(_tmpfs_mismatch(record, thresholds))
    return tuple(found)


def _disk_findings(volume: VolumeSpec) -> list[Finding]:
    pod_limit = volume.pod_ephemeral_limit_bytes
    if volume.size_limit_bytes is None:
        return [
            make_finding(
                DISK_NO_SIZE_LIMIT,
                f"Disk emptyDir {volume.name!r} has no sizeLimit"
                + (
                    " and the pod has no ephemeral-storage limit: it can fill the node's disk "
                    "and get neighbours evicted."
                    if pod_limit is None
                    else f"; only the pod's ephemeral-storage limit {format_bytes(pod_limit)}, "
                    "shared with logs and writable layers, bounds it."
                ),
                volume.pod,
                volume=volume.name,
                severity=Severity.CRITICAL if pod_limit is None else Severity.WARNING,
                evidence={"podEphemeralLimitBytes": pod_limit},
            )
        ]
    if pod_limit is not None and volume.size_limit_bytes >= pod_limit:
        return [
            _volume_finding(
                DISK_SIZE_LIMIT_ABOVE_POD_EPHEMERAL_LIMIT,
                volume,
                f"sizeLimit {format_bytes(volume.size_limit_bytes)} of emptyDir "
                f"{volume.name!r} is not below the pod's ephemeral-storage limit "
                f"{format_bytes(pod_limit)}; the pod-level eviction fires first.",
                evidence={
                    "sizeLimitBytes": volume.size_limit_bytes,
                    "podEphemeralLimitBytes": pod_limit,
                },
            )
        ]
    return []


def _memory_findings(volume: VolumeSpec) -> list[Finding]:
    found: list[Finding] = []
    pod_limit = volume.pod_memory_limit_bytes
    size_limit = volume.size_limit_bytes
    if size_limit is None:
        found.append(
            make_finding(
                MEMORY_NO_SIZE_LIMIT,
                f"Memory-backed emptyDir {volume.name!r} has no sizeLimit; its tmpfs is sized "
                + (
                    f"to node allocatable memory ({format_bytes(volume.node_allocatable_bytes)})"
                    " because not every container has a memory limit."
                    if pod_limit is None
                    else f"to the pod memory limit {format_bytes(pod_limit)}."
                ),
                volume.pod,
                volume=volume.name,
                severity=Severity.CRITICAL if pod_limit is None else Severity.WARNING,
                evidence={
                    "podMemoryLimitBytes": pod_limit,
                    "nodeAllocatableBytes": volume.node_allocatable_bytes,
                },
            )
        )
    elif pod_limit is not None and size_limit > pod_limit:
        found.append(
            _volume_finding(
                MEMORY_SIZE_LIMIT_ABOVE_MEMORY_LIMIT,
                volume,
                f"sizeLimit {format_bytes(size_limit)} of memory-backed emptyDir "
                f"{volume.name!r} exceeds the pod memory limit {format_bytes(pod_limit)}; "
                "the tmpfs is sized to the pod limit instead.",
                evidence={"sizeLimitBytes": size_limit, "podMemoryLimitBytes": pod_limit},
            )
        )
    else:
        writer = next(
            (
                m
                for m in volume.mounters
                if not m.read_only and m.memory_limit_bytes and m.memory_limit_bytes < size_limit
            ),
            None,
        )
        if writer is not None:
            found.append(
                make_finding(
                    MEMORY_SIZE_LIMIT_ABOVE_MEMORY_LIMIT,
                    f"sizeLimit {format_bytes(size_limit)} of memory-backed emptyDir "
                    f"{volume.name!r} exceeds the memory limit "
                    f"{format_bytes(writer.memory_limit_bytes)} of container "
                    f"{writer.container!r}, which writes to it; it is OOM-killed first.",
                    volume.pod,
                    volume=volume.name,
                    container=writer.container,
                    evidence={
                        "sizeLimitBytes": size_limit,
                        "containerMemoryLimitBytes": writer.memory_limit_bytes,
                    },
                )
            )
    if pod_limit is None and volume.pod_ephemeral_limit_bytes is not None:
        found.append(
            _volume_finding(
                EPHEMERAL_LIMIT_IGNORES_TMPFS,
                volume,
                f"The pod's ephemeral-storage limit does not cover memory-backed emptyDir "
                f"{volume.name!r}; tmpfs is charged to memory, which has no pod limit.",
                evidence={"podEphemeralLimitBytes": volume.pod_ephemeral_limit_bytes},
            )
        )
    return found


def _volume_finding(
    kind: FindingKind, volume: VolumeSpec, message: str, evidence: Mapping[str, object]
) -> Finding:
    return make_finding(kind, message, volume.pod, volume=volume.name, evidence=evidence)


def _spec_problem(volume: VolumeSpec, index: int) -> Finding:
    problem = volume.problems[index]
    return make_finding(
        SPEC_PARSE_ERROR,
        f"{problem.field_path}: {problem.reason} {problem.value!r}.",
        volume.pod,
        volume=volume.name if problem.field_path.startswith("spec.volumes") else None,
        evidence={"field": problem.field_path, "value": problem.value},
    )


def _near_limit(record: VolumeRecord, thresholds: Thresholds) -> list[Finding]:
    utilization = record.utilization
    if utilization is None or utilization < thresholds.warn_ratio:
        return []
    spec = record.spec
    return [
        make_finding(
            NEAR_LIMIT,
            f"emptyDir {spec.name!r} is at {utilization:.0%} of its effective limit "
            f"{format_bytes(spec.effective_limit_bytes)} ({spec.limit_source.value}).",
            spec.pod,
            volume=spec.name,
            severity=(
                Severity.CRITICAL if utilization >= thresholds.critical_ratio else Severity.WARNING
            ),
            evidence={
                "utilization": f"{utilization:.4f}",
                "usedBytes": record.usage.used_bytes if record.usage else None,
                "effectiveLimitBytes": spec.effective_limit_bytes,
                "limitSource": spec.limit_source.value,
            },
        )
    ]


def _projected_full(record: VolumeRecord, thresholds: Thresholds) -> list[Finding]:
    seconds = record.seconds_to_limit
    window = thresholds.projection_window.total_seconds()
    if seconds is None or seconds <= 0 or seconds >= window:
        return []
    spec = record.spec
    return [
        _volume_finding(
            PROJECTED_FULL,
            spec,
            f"At the current rate emptyDir {spec.name!r} reaches its effective limit "
            f"{format_bytes(spec.effective_limit_bytes)} in {format_seconds(seconds)}.",
            evidence={"secondsToLimit": _round(seconds), "limitSource": spec.limit_source.value},
        )
    ]


def _inodes_low(record: VolumeRecord, thresholds: Thresholds) -> list[Finding]:
    usage = record.usage
    if usage is None or not usage.inodes or usage.inodes_free is None:
        return []
    fs_ratio = 1 - usage.inodes_free / usage.inodes
    dominates = usage.inodes_used is not None and usage.inodes_used > usage.inodes_free
    if fs_ratio < thresholds.inodes_low_ratio and not dominates:
        return []
    return [
        _volume_finding(
            INODES_LOW,
            record.spec,
            f"The filesystem under emptyDir {record.spec.name!r} has {usage.inodes_free} of "
            f"{usage.inodes} inodes free; the volume holds {usage.inodes_used} of them.",
            evidence={
                "inodes": usage.inodes,
                "inodesFree": usage.inodes_free,
                "inodesUsed": usage.inodes_used,
            },
        )
    ]


def _tmpfs_mismatch(record: VolumeRecord, thresholds: Thresholds) -> list[Finding]:
    observed = record.tmpfs_size_observed_bytes
    expected = record.tmpfs_size_expected_bytes
    if observed is None or expected is None:
        return []
    tolerance = max(PAGE_SIZE, thresholds.tmpfs_tolerance_ratio * expected)
    if abs(observed - expected) <= tolerance:
        return []
    return [
        _volume_finding(
            TMPFS_SIZE_MISMATCH,
            record.spec,
            f"tmpfs of emptyDir {record.spec.name!r} is {format_bytes(observed)}, expected "
            f"{format_bytes(expected)} ({record.spec.limit_source.value}).",
            evidence={"observedBytes": observed, "expectedBytes": expected},
        )
    ]


def _stats_unavailable(
    record: VolumeRecord, thresholds: Thresholds, stats: NodeStatsState | None
) -> Finding:
    failures = stats.consecutive_failures if stats else 0
    if stats is None or stats.summary is None:
        why = "the node's Summary API has not answered" + (
            f" ({stats.last_error})" if stats and stats.last_error else ""
        )
    else:
        why = "the kubelet's Summary does not list it yet"
    return make_finding(
        STATS_UNAVAILABLE,
        f"Usage of emptyDir {record.spec.name!r} is unknown: {why}.",
        record.spec.pod,
        volume=record.spec.name,
        severity=(
            Severity.WARNING if failures > thresholds.failures_before_warning else Severity.INFO
        ),
        evidence={
            "node": record.spec.node_name,
            "consecutiveFailures": failures,
            "lastError": stats.last_error if stats else None,
        },
    )


def _round(value: float | None) -> int | None:
    return None if value is None else round(value)
