"""The finding catalogue: stable IDs, names, default severities and remedies.

IDs and names are part of the API: reports, Events, metrics labels and exemption lists refer to
them, so they are never renumbered. ``docs/emptydir-audit.md`` explains each in prose.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from podpilot.emptydir.engine.model import Finding, NodeFinding, PodRef, Severity


@dataclass(frozen=True)
class FindingKind:
    """One entry of the catalogue."""

    id: str
    name: str
    severity: Severity
    remedy: str


def _kind(id_: str, name: str, severity: Severity, remedy: str) -> FindingKind:
    return FindingKind(id_, name, severity, remedy)


DISK_NO_SIZE_LIMIT = _kind(
    "ED001",
    "DiskNoSizeLimit",
    Severity.WARNING,
    "Set emptyDir.sizeLimit, and an ephemeral-storage limit on the containers.",
)
MEMORY_NO_SIZE_LIMIT = _kind(
    "ED002",
    "MemoryNoSizeLimit",
    Severity.CRITICAL,
    "Set emptyDir.sizeLimit and memory limits on every container.",
)
MEMORY_SIZE_LIMIT_ABOVE_MEMORY_LIMIT = _kind(
    "ED003",
    "MemorySizeLimitAboveMemoryLimit",
    Severity.WARNING,
    "Lower sizeLimit below the memory limit of the writing container, leaving room for its heap.",
)
DISK_SIZE_LIMIT_ABOVE_POD_EPHEMERAL_LIMIT = _kind(
    "ED004",
    "DiskSizeLimitAbovePodEphemeralLimit",
    Severity.WARNING,
    "Raise the containers' ephemeral-storage limits above sizeLimit plus logs and writable layers.",
)
SIZE_LIMIT_ABOVE_NODE_ALLOCATABLE = _kind(
    "ED005",
    "SizeLimitAboveNodeAllocatable",
    Severity.INFO,
    "Lower sizeLimit to what the node can hold, or schedule onto larger nodes.",
)
TMPFS_SIZE_MISMATCH = _kind(
    "ED006",
    "TmpfsSizeMismatch",
    Severity.WARNING,
    "Check the kubelet version and the SizeMemoryBackedVolumes feature gate on the node.",
)
EPHEMERAL_LIMIT_IGNORES_TMPFS = _kind(
    "ED007",
    "EphemeralLimitIgnoresTmpfs",
    Severity.INFO,
    "Bound memory-backed volumes with sizeLimit and memory limits; ephemeral-storage does not.",
)
HUGEPAGES_VOLUME = _kind(
    "ED008",
    "HugePagesVolume",
    Severity.INFO,
    "None needed; hugepages volumes are bounded by the pod's hugepages limits.",
)
NEAR_LIMIT = _kind(
    "ED010",
    "NearLimit",
    Severity.WARNING,
    "Clean up the volume or raise the limit that binds (see limitSource).",
)
PROJECTED_FULL = _kind(
    "ED011",
    "ProjectedFull",
    Severity.WARNING,
    "The volume will reach its limit soon at the current rate; clean up or raise the limit.",
)
INODES_LOW = _kind(
    "ED012",
    "InodesLow",
    Severity.WARNING,
    "Reduce the number of files written to the volume; the node may evict on inodesFree.",
)
NODEFS_DOMINATED_BY_EMPTYDIR = _kind(
    "ED013",
    "NodeFsDominatedByEmptyDir",
    Severity.INFO,
    "Bound the largest disk emptyDirs with sizeLimit, or give the node a bigger root filesystem.",
)
EVICTED_EMPTYDIR_LIMIT = _kind(
    "ED020",
    "EvictedEmptyDirLimit",
    Severity.CRITICAL,
    "The volume outgrew its sizeLimit; raise it or write less. The pod must be replaced.",
)
EVICTED_POD_EPHEMERAL_LIMIT = _kind(
    "ED021",
    "EvictedPodEphemeralLimit",
    Severity.CRITICAL,
    "Pod ephemeral usage (disk emptyDirs, logs, writable layers) exceeded the containers' sum.",
)
EVICTED_CONTAINER_EPHEMERAL_LIMIT = _kind(
    "ED022",
    "EvictedContainerEphemeralLimit",
    Severity.WARNING,
    "A container's logs and writable layer exceeded its limit; emptyDirs do not count here.",
)
EVICTED_NODE_PRESSURE = _kind(
    "ED024",
    "EvictedNodePressure",
    Severity.WARNING,
    "The node ran short; bound the pod's emptyDirs so they cannot starve the node.",
)
OOM_KILLED_WITH_TMPFS = _kind(
    "ED023",
    "OOMKilledWithTmpfs",
    Severity.WARNING,
    "tmpfs pages count against the writer's memory limit and survive restarts; size them in.",
)
STATS_UNAVAILABLE = _kind(
    "ED030",
    "StatsUnavailable",
    Severity.INFO,
    "Check nodes/stats RBAC, the kubelet CA bundle and kubelet health; usage is unknown, not zero.",
)
SPEC_PARSE_ERROR = _kind(
    "ED031",
    "SpecParseError",
    Severity.WARNING,
    "Fix the quantity or medium named in the finding.",
)
STATS_STALE = _kind(
    "ED032",
    "StatsStale",
    Severity.INFO,
    "The last sample is old; the node's Summary endpoint is failing or slow.",
)

CATALOGUE: Mapping[str, FindingKind] = {
    kind.id: kind
    for kind in (
        DISK_NO_SIZE_LIMIT,
        MEMORY_NO_SIZE_LIMIT,
        MEMORY_SIZE_LIMIT_ABOVE_MEMORY_LIMIT,
        DISK_SIZE_LIMIT_ABOVE_POD_EPHEMERAL_LIMIT,
        SIZE_LIMIT_ABOVE_NODE_ALLOCATABLE,
        TMPFS_SIZE_MISMATCH,
        EPHEMERAL_LIMIT_IGNORES_TMPFS,
        HUGEPAGES_VOLUME,
        NEAR_LIMIT,
        PROJECTED_FULL,
        INODES_LOW,
        NODEFS_DOMINATED_BY_EMPTYDIR,
        EVICTED_EMPTYDIR_LIMIT,
        EVICTED_POD_EPHEMERAL_LIMIT,
        EVICTED_CONTAINER_EPHEMERAL_LIMIT,
        OOM_KILLED_WITH_TMPFS,
        EVICTED_NODE_PRESSURE,
        STATS_UNAVAILABLE,
        SPEC_PARSE_ERROR,
        STATS_STALE,
    )
}
"""Every finding kind by ID."""


def make_finding(
    kind: FindingKind,
    message: str,
    pod: PodRef,
    *,
    volume: str | None = None,
    container: str | None = None,
    severity: Severity | None = None,
    evidence: Mapping[str, object] | None = None,
) -> Finding:
    """Build a :class:`Finding` of ``kind``.

    Args:
        kind: The catalogue entry.
        message: One human sentence.
        pod: The pod concerned.
        volume: The volume concerned, if any.
        container: The container concerned, if any.
        severity: Overrides the kind's default severity.
        evidence: Values behind the finding; ``None`` values are dropped, the rest stringified.

    Returns:
        The finding.
    """
    return Finding(
        id=kind.id,
        name=kind.name,
        severity=severity or kind.severity,
        message=message,
        pod=pod,
        volume=volume,
        container=container,
        evidence=_evidence(evidence),
    )


def make_node_finding(
    kind: FindingKind, message: str, node: str, evidence: Mapping[str, object] | None = None
) -> NodeFinding:
    """Build a :class:`NodeFinding` of ``kind`` (same evidence rules as :func:`make_finding`).

    Args:
        kind: The catalogue entry.
        message: One human sentence.
        node: The node concerned.
        evidence: Values behind the finding.

    Returns:
        The finding.
    """
    return NodeFinding(kind.id, kind.name, kind.severity, message, node, _evidence(evidence))


def _evidence(evidence: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((key, str(value)) for key, value in (evidence or {}).items() if value is not None)
    )
