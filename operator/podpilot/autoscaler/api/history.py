"""Keeping the engine's history small and restart-safe before it is written to status."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from podpilot.autoscaler.engine import (
    Behavior,
    ScalingHistory,
    TimestampedRecommendation,
    record_rescale,
)


@dataclass(frozen=True)
class PendingRescale:
    """A ``/scale`` patch about to be sent, recorded in status before it is sent.

    The scale event is normally recorded by the status write that follows the patch; if the
    process dies between the two, this record is what the next process finds.
    """

    from_replicas: int
    to_replicas: int
    timestamp: float


def settle_pending(
    history: ScalingHistory | None, pending: PendingRescale, behavior: Behavior | None
) -> ScalingHistory:
    """The history with a recorded-but-unconfirmed rescale counted as having happened.

    Conservatively always, whatever the target's count is now: if the patch did not go
    through, this only holds the next change in that direction back until the policy period
    of the phantom event ends; if it did and the event were dropped, the next evaluation
    could change the count by a second full step inside one policy period.
    """
    base = (
        history
        if history is not None
        else ScalingHistory.seeded(pending.from_replicas, pending.timestamp)
    )
    return record_rescale(
        base,
        behavior,
        previous_replicas=pending.from_replicas,
        new_replicas=pending.to_replicas,
        now=pending.timestamp,
    )


def compact(history: ScalingHistory) -> ScalingHistory:
    """Keep, per recommended replica count, only its latest timestamp.

    Stabilization takes the max (or min) over the recommendations inside a window; a count
    is inside the window exactly when its latest timestamp is, so older duplicates change
    nothing and only make the status larger.
    """
    latest: dict[int, float] = {}
    for item in history.recommendations:
        latest[item.replicas] = max(item.timestamp, latest.get(item.replicas, item.timestamp))
    recommendations = tuple(
        TimestampedRecommendation(replicas, timestamp)
        for replicas, timestamp in sorted(latest.items(), key=lambda pair: pair[1])
    )
    return dataclasses.replace(history, recommendations=recommendations)


def resume(history: ScalingHistory, now: float) -> ScalingHistory:
    """The history as stored by a previous process, made safe to continue from.

    The newest recommendation was still being made, evaluation after evaluation, until that
    process stopped, which may be any time before ``now``: keep it fresh as of ``now`` so a
    restart can only hold a scale-down longer, never release it early.
    """
    if not history.recommendations:
        return history
    newest = max(history.recommendations, key=lambda item: item.timestamp)
    refreshed = tuple(
        TimestampedRecommendation(item.replicas, now) if item is newest else item
        for item in history.recommendations
    )
    return dataclasses.replace(history, recommendations=refreshed)
