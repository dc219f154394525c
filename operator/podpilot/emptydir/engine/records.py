"""Join a volume's spec with its latest Summary sample and trend."""

from datetime import datetime

from podpilot.emptydir.engine.model import (
    FsSample,
    Medium,
    StatsFreshness,
    Thresholds,
    VolumeRecord,
    VolumeSpec,
)
from podpilot.emptydir.engine.summary import NodeStatsState
from podpilot.emptydir.engine.trend import SampleRing, seconds_to_limit


def volume_record(
    volume: VolumeSpec,
    stats: NodeStatsState | None,
    ring: SampleRing | None,
    now: datetime,
    thresholds: Thresholds,
) -> VolumeRecord:
    """Build the record for one volume.

    Usage comes from the last Summary that parsed for the pod's node, matched by pod uid and volume
    name. A sample is stale when the node's latest poll failed or the sample is older than
    ``thresholds.stale_after``; a volume with no sample at all is unavailable. Nothing unknown is
    reported as zero.

    Args:
        volume: The declared volume.
        stats: The poll state of the pod's node, or ``None`` if it was never polled.
        ring: The volume's recent samples, for the projection.
        now: Audit time (timezone-aware).
        thresholds: Audit thresholds.

    Returns:
        The record.
    """
    sample = _sample(volume, stats)
    freshness, age = _freshness(sample, stats, now, thresholds)
    limit = volume.effective_limit_bytes
    used = sample.used_bytes if sample else None
    utilization = used / limit if used is not None and limit else None
    projection = None
    if (
        ring is not None
        and limit
        and utilization is not None
        and utilization >= thresholds.trend_min_utilization
    ):
        projection = seconds_to_limit(ring, limit, thresholds.trend_min_samples)
    is_tmpfs = volume.medium is Medium.MEMORY
    return VolumeRecord(
        spec=volume,
        usage=sample,
        freshness=freshness,
        stats_age_seconds=age,
        utilization=utilization,
        tmpfs_size_observed_bytes=sample.capacity_bytes if is_tmpfs and sample else None,
        tmpfs_size_expected_bytes=limit if is_tmpfs else None,
        seconds_to_limit=projection,
    )


def _sample(volume: VolumeSpec, stats: NodeStatsState | None) -> FsSample | None:
    if stats is None or stats.summary is None:
        return None
    pod = stats.summary.pods.get(volume.pod.uid)
    return pod.volumes.get(volume.name) if pod else None


def _freshness(
    sample: FsSample | None,
    stats: NodeStatsState | None,
    now: datetime,
    thresholds: Thresholds,
) -> tuple[StatsFreshness, float | None]:
    if sample is None or stats is None:
        return StatsFreshness.UNAVAILABLE, None
    taken = sample.time or stats.last_success
    age = max(0.0, (now - taken).total_seconds()) if taken else None
    too_old = age is None or age > thresholds.stale_after.total_seconds()
    if stats.consecutive_failures > 0 or too_old:
        return StatsFreshness.STALE, age
    return StatsFreshness.FRESH, age
