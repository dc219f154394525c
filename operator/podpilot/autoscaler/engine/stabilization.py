"""Recommendation stabilization, legacy and per-direction (``horizontal.go``).

Ports of ``stabilizeRecommendation`` (no ``behavior``: one downscale window) and
``stabilizeRecommendationWithBehaviors`` (a window per direction). Both return the
stabilized count and the new recommendation list instead of mutating controller state.

Time comparisons copy Go's ``time.After``/``time.Before`` against ``now - window``: a
recommendation exactly at the cutoff is neither inside the window nor old.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .conditions import Reason
from .history import TimestampedRecommendation, reuse_slot

__all__ = ["Stabilized", "stabilize_recommendation", "stabilize_recommendation_with_behaviors"]


@dataclass(frozen=True, slots=True)
class Stabilized:
    """Result of a stabilization step.

    Attributes:
        replicas: The stabilized recommendation.
        recommendations: The history with the new (unstabilized) proposal recorded.
        reason: The ``AbleToScale`` reason upstream would set if ``replicas`` differs
            from the proposal.
    """

    replicas: int
    recommendations: tuple[TimestampedRecommendation, ...]
    reason: Reason


def stabilize_recommendation(
    recommendations: Sequence[TimestampedRecommendation],
    desired_replicas: int,
    *,
    now: float,
    downscale_stabilization_window: float,
) -> Stabilized:
    """Legacy stabilization: follow the highest proposal of the downscale window.

    Port of ``stabilizeRecommendation``. Scale-up is never delayed.

    Args:
        recommendations: The stored history.
        desired_replicas: This cycle's proposal.
        now: The current instant (epoch seconds).
        downscale_stabilization_window: Seconds; the controller flag
            ``--horizontal-pod-autoscaler-downscale-stabilization``.
    """
    cutoff = now - downscale_stabilization_window
    highest = desired_replicas
    old_index: int | None = None
    for index, item in enumerate(recommendations):
        if item.timestamp < cutoff:
            old_index = index
        elif item.replicas > highest:
            highest = item.replicas
    stored = reuse_slot(
        recommendations, old_index, TimestampedRecommendation(desired_replicas, now)
    )
    return Stabilized(highest, stored, Reason.SCALE_DOWN_STABILIZED)


def stabilize_recommendation_with_behaviors(
    recommendations: Sequence[TimestampedRecommendation],
    *,
    current_replicas: int,
    desired_replicas: int,
    scale_up_window: float,
    scale_down_window: float,
    now: float,
) -> Stabilized:
    """Two-sided stabilization with a window per direction.

    Port of ``stabilizeRecommendationWithBehaviors``: scale up only to the lowest
    proposal of the up-window, down only to the highest of the down-window; when the
    windows disagree the count holds.

    Args:
        recommendations: The stored history.
        current_replicas: ``scale.spec.replicas``.
        desired_replicas: This cycle's proposal.
        scale_up_window: ``behavior.scaleUp.stabilizationWindowSeconds``.
        scale_down_window: ``behavior.scaleDown.stabilizationWindowSeconds``.
        now: The current instant (epoch seconds).
    """
    up_cutoff = now - scale_up_window
    down_cutoff = now - scale_down_window
    up_recommendation = desired_replicas
    down_recommendation = desired_replicas
    old_index: int | None = None
    for index, item in enumerate(recommendations):
        if item.timestamp > up_cutoff:
            up_recommendation = min(up_recommendation, item.replicas)
        if item.timestamp > down_cutoff:
            down_recommendation = max(down_recommendation, item.replicas)
        if item.timestamp < up_cutoff and item.timestamp < down_cutoff:
            old_index = index
    replicas = current_replicas
    replicas = max(replicas, up_recommendation)
    replicas = min(replicas, down_recommendation)
    stored = reuse_slot(
        recommendations, old_index, TimestampedRecommendation(desired_replicas, now)
    )
    reason = (
        Reason.SCALE_UP_STABILIZED
        if desired_replicas >= current_replicas
        else Reason.SCALE_DOWN_STABILIZED
    )
    return Stabilized(replicas, stored, reason)
