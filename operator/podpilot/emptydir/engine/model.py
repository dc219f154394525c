"""Value types shared by the audit modules: inputs, per-volume records and findings.

Everything here is a frozen dataclass or an enum, so results can be cached, compared and hashed
by the controller. Sizes are whole bytes (``int``); ``None`` always means *unknown* or *unset*,
never zero.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Medium(StrEnum):
    """Where an emptyDir volume lives on the node."""

    DISK = "disk"
    MEMORY = "memory"
    HUGEPAGES = "hugepages"
    UNKNOWN = "unknown"


class LimitSource(StrEnum):
    """Which bound produces a volume's effective limit."""

    SIZE_LIMIT = "sizeLimit"
    POD_EPHEMERAL_LIMIT = "podEphemeralStorageLimit"
    POD_MEMORY_LIMIT = "podMemoryLimit"
    POD_HUGEPAGES_LIMIT = "podHugePagesLimit"
    NODE_ALLOCATABLE = "nodeAllocatable"
    KERNEL_DEFAULT = "kernelDefault"
    NONE = "none"


class Severity(StrEnum):
    """How urgent a finding is; compare with :func:`severity_rank`."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_SEVERITY_ORDER = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


def severity_rank(severity: Severity | None) -> int:
    """Order severities for max(); ``None`` (no finding) ranks below info.

    Args:
        severity: A severity, or ``None`` for "no finding".

    Returns:
        0 for ``None``, then 1, 2, 3 for info, warning and critical.
    """
    return 0 if severity is None else _SEVERITY_ORDER[severity]


def worst_severity(severities: "tuple[Severity, ...] | list[Severity]") -> Severity | None:
    """Return the most severe of ``severities``, or ``None`` if there are none.

    Args:
        severities: Any number of severities.

    Returns:
        The maximum by :func:`severity_rank`, or ``None`` for an empty input.
    """
    return max(severities, key=severity_rank, default=None)


class StatsFreshness(StrEnum):
    """How current a volume's usage numbers are."""

    FRESH = "Fresh"
    STALE = "Stale"
    UNAVAILABLE = "Unavailable"


@dataclass(frozen=True)
class PodRef:
    """Identity of a pod. ``uid`` is the key: StatefulSet pods reuse names."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class WorkloadRef:
    """The workload a pod rolls up to: its controller owner, or the pod itself when bare."""

    kind: str
    name: str
    namespace: str
    uid: str | None = None
    api_version: str | None = None


@dataclass(frozen=True)
class NodeFacts:
    """What the audit needs to know about the node a pod runs on.

    Attributes:
        name: Node name.
        allocatable_memory_bytes: ``status.allocatable.memory``, or ``None`` if unknown.
        allocatable_ephemeral_bytes: ``status.allocatable["ephemeral-storage"]``, or ``None``.
        capacity_memory_bytes: ``status.capacity.memory``; used for the kernel-default tmpfs size
            (half of RAM) on kubelets older than 1.22.
        kubelet_version: ``status.nodeInfo.kubeletVersion``, e.g. ``"v1.30.2"``.
        operating_system: ``kubernetes.io/os`` label; tmpfs sizing is skipped on ``windows``.
    """

    name: str
    allocatable_memory_bytes: int | None = None
    allocatable_ephemeral_bytes: int | None = None
    capacity_memory_bytes: int | None = None
    kubelet_version: str | None = None
    operating_system: str | None = None


@dataclass(frozen=True)
class Mounter:
    """A container that mounts a volume."""

    container: str
    kind: str  # "container", "initContainer", "sidecar" or "ephemeralContainer"
    read_only: bool
    memory_limit_bytes: int | None


@dataclass(frozen=True)
class SpecProblem:
    """Something in the pod spec the audit could not interpret (becomes ED031)."""

    field_path: str
    value: str
    reason: str


@dataclass(frozen=True)
class VolumeSpec:
    """One emptyDir volume as declared, with the limits that can bound it.

    Attributes:
        pod: The pod that declares the volume.
        workload: The workload the pod rolls up to.
        node_name: ``spec.nodeName``, or ``None`` while unscheduled.
        name: Volume name.
        medium: Parsed medium.
        raw_medium: ``emptyDir.medium`` exactly as written.
        size_limit_bytes: Parsed ``sizeLimit``; ``None`` when absent, zero or invalid (the
            kubelet ignores a limit unless it is positive).
        pod_ephemeral_limit_bytes: The pod's ephemeral-storage limit as the eviction manager
            computes it (sum over containers that declare one, init containers by peak).
        pod_memory_limit_bytes: The pod memory limit that sizes tmpfs: pod-level
            ``spec.resources.limits.memory``, or the container sum when every app container,
            init container and sidecar declares one as the kubelet counts them (see
            :func:`podpilot.emptydir.engine.volumes.pod_limits`); plus pod overhead.
        pod_hugepages_limit_bytes: For hugepages media, the pod's hugepages limit of that size.
        node_allocatable_bytes: Node allocatable memory (memory medium) or ephemeral storage
            (disk medium).
        effective_limit_bytes: The smallest bound that applies, or ``None`` when nothing bounds it.
        limit_source: Which bound that is.
        mounters: Containers that mount the volume.
        problems: Spec fields that could not be interpreted.
    """

    pod: PodRef
    workload: WorkloadRef
    node_name: str | None
    name: str
    medium: Medium
    raw_medium: str
    size_limit_bytes: int | None
    pod_ephemeral_limit_bytes: int | None
    pod_memory_limit_bytes: int | None
    pod_hugepages_limit_bytes: int | None
    node_allocatable_bytes: int | None
    effective_limit_bytes: int | None
    limit_source: LimitSource
    mounters: tuple[Mounter, ...] = ()
    problems: tuple[SpecProblem, ...] = ()


@dataclass(frozen=True)
class FsSample:
    """A kubelet ``FsStats`` object; every field is optional on the wire, so each may be None."""

    time: datetime | None = None
    used_bytes: int | None = None
    capacity_bytes: int | None = None
    available_bytes: int | None = None
    inodes: int | None = None
    inodes_used: int | None = None
    inodes_free: int | None = None


@dataclass(frozen=True)
class Thresholds:
    """Tunables for usage findings; defaults follow the proposed spec.

    Attributes:
        warn_ratio: Utilization at which ED010 becomes a warning.
        critical_ratio: Utilization at which ED010 becomes critical.
        projection_window: ED011 fires when the projected time to the limit is shorter.
        trend_min_utilization: No projection below this utilization (noise guard).
        trend_min_samples: Samples needed before a slope is trusted.
        inodes_low_ratio: Fraction of the backing filesystem's inodes in use that raises ED012.
        stale_after: Age after which a sample is stale (the kubelet refreshes volume stats every
            minute, so allow a few refreshes).
        failures_before_warning: Consecutive failed polls before ED030 becomes a warning.
        oom_usage_ratio: Fraction of the container memory limit a tmpfs must hold for an
            OOM kill to be traced to it (ED023).
        tmpfs_tolerance_ratio: Relative difference tolerated between expected and observed tmpfs
            size (ED006), besides one page.
        nodefs_emptydir_ratio: Share of the node's root filesystem capacity that its disk
            emptyDirs must use together for ED013.
    """

    warn_ratio: float = 0.80
    critical_ratio: float = 0.95
    projection_window: timedelta = timedelta(hours=6)
    trend_min_utilization: float = 0.33
    trend_min_samples: int = 3
    inodes_low_ratio: float = 0.90
    stale_after: timedelta = timedelta(minutes=3)
    failures_before_warning: int = 3
    oom_usage_ratio: float = 0.50
    tmpfs_tolerance_ratio: float = 0.01
    nodefs_emptydir_ratio: float = 0.50


@dataclass(frozen=True)
class Finding:
    """One audit result about a volume or a pod.

    Attributes:
        id: Stable identifier, e.g. ``"ED001"``.
        name: Stable CamelCase name, e.g. ``"DiskNoSizeLimit"``; also used as the Event reason.
        severity: How urgent it is.
        message: One sentence for humans.
        pod: The pod it concerns.
        volume: The volume it concerns, or ``None`` for pod-wide findings.
        container: The container involved, if one is.
        evidence: The numbers and strings the finding was derived from.
    """

    id: str
    name: str
    severity: Severity
    message: str
    pod: PodRef
    volume: str | None = None
    container: str | None = None
    evidence: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> tuple[str, str | None, str]:
        """Deduplication key for Events: ``(pod uid, volume, finding id)``."""
        return (self.pod.uid, self.volume, self.id)


@dataclass(frozen=True)
class NodeFinding:
    """One audit result about a node rather than a pod (ED013).

    Attributes:
        id: Stable identifier, e.g. ``"ED013"``.
        name: Stable CamelCase name.
        severity: How urgent it is.
        message: One sentence for humans.
        node: The node it concerns.
        evidence: The numbers the finding was derived from.
    """

    id: str
    name: str
    severity: Severity
    message: str
    node: str
    evidence: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class VolumeRecord:
    """A volume's spec joined with its latest usage and trend.

    Attributes:
        spec: The declared volume and its limits.
        usage: The latest sample for the volume, or ``None`` if the kubelet never reported it.
        freshness: Whether ``usage`` is current.
        stats_age_seconds: Age of ``usage`` at audit time, when known.
        utilization: ``usage.used_bytes / spec.effective_limit_bytes`` when both are known.
        tmpfs_size_observed_bytes: ``capacityBytes`` of a memory volume (the mounted tmpfs size).
        tmpfs_size_expected_bytes: The tmpfs size the kubelet should have mounted.
        seconds_to_limit: Projected seconds until the effective limit, from the trend.
    """

    spec: VolumeSpec
    usage: FsSample | None
    freshness: StatsFreshness
    stats_age_seconds: float | None
    utilization: float | None
    tmpfs_size_observed_bytes: int | None
    tmpfs_size_expected_bytes: int | None
    seconds_to_limit: float | None
