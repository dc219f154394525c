"""A small immutable ring of usage samples per volume, and the time-to-limit projection.

The kubelet refreshes volume stats about once a minute, so polling faster yields repeated samples
with the same timestamp; a sample is only kept if it is newer than the last one. The projection is
an ordinary least-squares slope over the ring, extrapolated from the latest observed usage.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from podpilot.emptydir.engine.summary import NodeSummary

DEFAULT_RING_SIZE = 10

VolumeKey = tuple[str, str]
"""``(pod uid, volume name)``."""


@dataclass(frozen=True)
class UsagePoint:
    """One observation of a volume's ``usedBytes``."""

    at: datetime
    used_bytes: int


@dataclass(frozen=True)
class SampleRing:
    """The last ``size`` usage points of one volume, oldest first."""

    size: int = DEFAULT_RING_SIZE
    points: tuple[UsagePoint, ...] = ()

    def with_point(self, point: UsagePoint) -> "SampleRing":
        """Return a ring with ``point`` appended, dropping the oldest beyond ``size``.

        Args:
            point: The new observation.

        Returns:
            A new ring; ``self`` unchanged if ``point`` is not newer than the latest point.
        """
        if self.points and point.at <= self.points[-1].at:
            return self
        return SampleRing(self.size, (*self.points, point)[-self.size :])


def update_history(
    history: Mapping[VolumeKey, SampleRing],
    summary: NodeSummary,
    keep: Collection[VolumeKey],
    ring_size: int = DEFAULT_RING_SIZE,
) -> dict[VolumeKey, SampleRing]:
    """Fold one node's Summary into the per-volume rings.

    Args:
        history: Rings from the previous poll of this node.
        summary: The new Summary.
        keep: The emptyDir volumes still on this node; rings for anything else are dropped, so
            state does not outlive its pod.
        ring_size: Size of newly created rings.

    Returns:
        The new rings, one per key in ``keep`` that has at least one point.
    """
    updated: dict[VolumeKey, SampleRing] = {}
    for key in keep:
        ring = history.get(key, SampleRing(ring_size))
        pod = summary.pods.get(key[0])
        sample = pod.volumes.get(key[1]) if pod else None
        if sample is not None and sample.time is not None and sample.used_bytes is not None:
            ring = ring.with_point(UsagePoint(sample.time, sample.used_bytes))
        if ring.points:
            updated[key] = ring
    return updated


def growth_bytes_per_second(ring: SampleRing, min_points: int = 3) -> float | None:
    """Least-squares slope of usage over time.

    Args:
        ring: The samples.
        min_points: Fewer points than this give no slope.

    Returns:
        Bytes per second, or ``None`` with too few points or no time spread.
    """
    if len(ring.points) < max(min_points, 2):
        return None
    origin = ring.points[0].at
    xs = [(p.at - origin).total_seconds() for p in ring.points]
    ys = [float(p.used_bytes) for p in ring.points]
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def seconds_to_limit(ring: SampleRing, limit_bytes: int, min_points: int = 3) -> float | None:
    """Project when usage reaches ``limit_bytes`` at the current growth rate.

    Args:
        ring: The samples.
        limit_bytes: The effective limit.
        min_points: See :func:`growth_bytes_per_second`.

    Returns:
        Seconds from the latest sample, ``0.0`` if already at or over the limit, or ``None`` when
        usage is not growing or there is too little data.
    """
    if not ring.points:
        return None
    latest = ring.points[-1].used_bytes
    if latest >= limit_bytes:
        return 0.0
    slope = growth_bytes_per_second(ring, min_points)
    if slope is None or slope <= 0:
        return None
    return (limit_bytes - latest) / slope
