"""From the metrics' proposal to the replica count to apply (``horizontal.go``).

Two paths, as upstream:

- without ``behavior``: ``normalize_desired_replicas`` (downscale stabilization, then
  ``convert_desired_replicas_with_rules``: min/max and the ``max(2 x current, 4)``
  scale-up limit);
- with ``behavior``: ``normalize_desired_replicas_with_behaviors`` (two-sided
  stabilization, then ``convert_desired_replicas_with_behavior_rate``: policy rate
  limits and min/max in the direction of travel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .behavior import (
    Behavior,
    ScalingRules,
    calculate_scale_down_limit_with_behaviors,
    calculate_scale_up_limit_with_scaling_rules,
    generate_scale_down_rules,
    generate_scale_up_rules,
)
from .conditions import Condition, ConditionType, Reason
from .history import ScaleEvent, ScalingHistory, TimestampedRecommendation
from .model import DEFAULT_DOWNSCALE_STABILIZATION_WINDOW
from .stabilization import (
    Stabilized,
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
)

__all__ = [
    "SCALE_UP_LIMIT_FACTOR",
    "SCALE_UP_LIMIT_MINIMUM",
    "Limited",
    "NormalizationInput",
    "Normalized",
    "calculate_scale_up_limit",
    "convert_desired_replicas_with_behavior_rate",
    "convert_desired_replicas_with_rules",
    "normalize_desired_replicas",
    "normalize_desired_replicas_with_behaviors",
]

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

_MESSAGES = {
    Reason.DESIRED_WITHIN_RANGE: "the desired count is within the acceptable range",
    Reason.TOO_MANY_REPLICAS: "the desired replica count is more than the maximum replica count",
    Reason.TOO_FEW_REPLICAS: "the desired replica count is less than the minimum replica count",
    Reason.SCALE_UP_LIMIT: (
        "the desired replica count is increasing faster than the maximum scale rate"
    ),
    Reason.SCALE_DOWN_LIMIT: (
        "the desired replica count is decreasing faster than the maximum scale rate"
    ),
    Reason.SCALE_UP_STABILIZED: (
        "recent recommendations were lower than current one, "
        "applying the lowest recent recommendation"
    ),
    Reason.SCALE_DOWN_STABILIZED: (
        "recent recommendations were higher than current one, "
        "applying the highest recent recommendation"
    ),
    Reason.READY_FOR_NEW_SCALE: "recommended size matches current size",
}


@dataclass(frozen=True, slots=True)
class Limited:
    """Result of a limiting step: the replicas and the ``ScalingLimited`` reason."""

    replicas: int
    reason: Reason

    @property
    def message(self) -> str:
        """Upstream's message for the reason."""
        return _MESSAGES[self.reason]


@dataclass(frozen=True, slots=True)
class Normalized:
    """Result of a whole normalization.

    Attributes:
        replicas: The replica count to apply.
        stabilized_replicas: The count after stabilization, before limits.
        recommendations: The new recommendation history.
        conditions: ``AbleToScale`` and ``ScalingLimited`` as upstream sets them here.
        notes: Readable steps.
    """

    replicas: int
    stabilized_replicas: int
    recommendations: tuple[TimestampedRecommendation, ...]
    conditions: tuple[Condition, ...]
    notes: tuple[str, ...]


def calculate_scale_up_limit(current_replicas: int) -> int:
    """The legacy one-step scale-up limit ``int32(max(2 x current, 4))``."""
    return int(max(SCALE_UP_LIMIT_FACTOR * float(current_replicas), SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(
    current_replicas: int, desired_replicas: int, min_replicas: int, max_replicas: int
) -> Limited:
    """Clamp without ``behavior`` (``convertDesiredReplicasWithRules``).

    minReplicas is checked first (``TooFewReplicas``); then the lower of maxReplicas
    (``TooManyReplicas``) and the scale-up limit (``ScaleUpLimit``).
    """
    scale_up_limit = calculate_scale_up_limit(current_replicas)
    if max_replicas > scale_up_limit:
        maximum, limiting = scale_up_limit, Reason.SCALE_UP_LIMIT
    else:
        maximum, limiting = max_replicas, Reason.TOO_MANY_REPLICAS
    if desired_replicas < min_replicas:
        return Limited(min_replicas, Reason.TOO_FEW_REPLICAS)
    if desired_replicas > maximum:
        return Limited(maximum, limiting)
    return Limited(desired_replicas, Reason.DESIRED_WITHIN_RANGE)


def convert_desired_replicas_with_behavior_rate(
    *,
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    scale_up_rules: ScalingRules,
    scale_down_rules: ScalingRules,
    scale_up_events: Sequence[ScaleEvent],
    scale_down_events: Sequence[ScaleEvent],
    now: float,
) -> Limited:
    """Apply policy rate limits and min/max in the direction of travel.

    Port of ``convertDesiredReplicasWithBehaviorRate``. A policy limit never moves
    against the direction (it is clamped to ``current_replicas``).

    Args:
        current_replicas: ``scale.spec.replicas``.
        desired_replicas: The stabilized recommendation.
        min_replicas: ``spec.minReplicas``.
        max_replicas: ``spec.maxReplicas``.
        scale_up_rules: Completed scale-up rules.
        scale_down_rules: Completed scale-down rules.
        scale_up_events: Stored scale-up events.
        scale_down_events: Stored scale-down events.
        now: The current instant (epoch seconds).
    """
    if desired_replicas > current_replicas:
        limit = calculate_scale_up_limit_with_scaling_rules(
            current_replicas, scale_up_events, scale_down_events, scale_up_rules, now=now
        )
        limit = max(limit, current_replicas)
        if max_replicas > limit:
            maximum, reason = limit, Reason.SCALE_UP_LIMIT
        else:
            maximum, reason = max_replicas, Reason.TOO_MANY_REPLICAS
        if desired_replicas > maximum:
            return Limited(maximum, reason)
    elif desired_replicas < current_replicas:
        limit = calculate_scale_down_limit_with_behaviors(
            current_replicas, scale_up_events, scale_down_events, scale_down_rules, now=now
        )
        limit = min(limit, current_replicas)
        if min_replicas < limit:
            minimum, reason = limit, Reason.SCALE_DOWN_LIMIT
        else:
            minimum, reason = min_replicas, Reason.TOO_FEW_REPLICAS
        if desired_replicas < minimum:
            return Limited(minimum, reason)
    return Limited(desired_replicas, Reason.DESIRED_WITHIN_RANGE)


def _limited_condition(limited: Limited, stabilized: int) -> Condition:
    return Condition(
        ConditionType.SCALING_LIMITED,
        limited.replicas != stabilized,
        limited.reason,
        limited.message,
    )


def _able_to_scale(stabilized: int, desired: int, reason: Reason) -> Condition:
    if stabilized != desired:
        return Condition(ConditionType.ABLE_TO_SCALE, True, reason, _MESSAGES[reason])
    return Condition(
        ConditionType.ABLE_TO_SCALE,
        True,
        Reason.READY_FOR_NEW_SCALE,
        _MESSAGES[Reason.READY_FOR_NEW_SCALE],
    )


def _limit_note(limited: Limited, stabilized: int) -> str:
    if limited.replicas == stabilized:
        return f"limits: {stabilized} is within range ({limited.reason})"
    return f"limits: {stabilized} -> {limited.replicas} ({limited.reason}: {limited.message})"


def _normalized(
    desired: int, stabilized: Stabilized, limited: Limited, stabilization_note: str
) -> Normalized:
    """What both normalizations return once stabilized and limited, conditions as upstream
    sets them after either."""
    return Normalized(
        replicas=limited.replicas,
        stabilized_replicas=stabilized.replicas,
        recommendations=stabilized.recommendations,
        conditions=(
            _able_to_scale(stabilized.replicas, desired, stabilized.reason),
            _limited_condition(limited, stabilized.replicas),
        ),
        notes=(stabilization_note, _limit_note(limited, stabilized.replicas)),
    )


@dataclass(frozen=True, slots=True)
class NormalizationInput:
    """What either normalization starts from (upstream's two take the same arguments).

    Attributes:
        history: The stored recommendations and scale events.
        current_replicas: ``scale.spec.replicas``.
        desired_replicas: The metrics' combined proposal.
        min_replicas: ``spec.minReplicas`` (1 when unset).
        max_replicas: ``spec.maxReplicas``.
        now: The current instant (epoch seconds).
        downscale_stabilization_window: The controller's downscale window in seconds.
    """

    history: ScalingHistory
    current_replicas: int
    desired_replicas: int
    min_replicas: int
    max_replicas: int
    now: float
    downscale_stabilization_window: float = DEFAULT_DOWNSCALE_STABILIZATION_WINDOW


def normalize_desired_replicas(given: NormalizationInput) -> Normalized:
    """Normalize without ``behavior`` (``normalizeDesiredReplicas``)."""
    stabilized = stabilize_recommendation(
        given.history.recommendations,
        given.desired_replicas,
        now=given.now,
        downscale_stabilization_window=given.downscale_stabilization_window,
    )
    limited = convert_desired_replicas_with_rules(
        given.current_replicas, stabilized.replicas, given.min_replicas, given.max_replicas
    )
    return _normalized(
        given.desired_replicas,
        stabilized,
        limited,
        f"stabilization (downscale window {given.downscale_stabilization_window:g}s): "
        f"{given.desired_replicas} -> {stabilized.replicas}",
    )


def normalize_desired_replicas_with_behaviors(
    given: NormalizationInput, behavior: Behavior
) -> Normalized:
    """Normalize with ``behavior`` (``normalizeDesiredReplicasWithBehaviors``).

    The rules are completed with the API defaults; an unset scale-down window takes
    the controller's downscale window (``maybeInitScaleDownStabilizationWindow``).
    """
    up_rules = generate_scale_up_rules(behavior.scale_up)
    down_rules = generate_scale_down_rules(behavior.scale_down)
    up_window = float(up_rules.stabilization_window_seconds or 0)
    down_window = (
        float(down_rules.stabilization_window_seconds)
        if down_rules.stabilization_window_seconds is not None
        else float(math.floor(given.downscale_stabilization_window))
    )
    stabilized = stabilize_recommendation_with_behaviors(
        given.history.recommendations,
        current_replicas=given.current_replicas,
        desired_replicas=given.desired_replicas,
        scale_up_window=up_window,
        scale_down_window=down_window,
        now=given.now,
    )
    limited = convert_desired_replicas_with_behavior_rate(
        current_replicas=given.current_replicas,
        desired_replicas=stabilized.replicas,
        min_replicas=given.min_replicas,
        max_replicas=given.max_replicas,
        scale_up_rules=up_rules,
        scale_down_rules=down_rules,
        scale_up_events=given.history.scale_up_events,
        scale_down_events=given.history.scale_down_events,
        now=given.now,
    )
    return _normalized(
        given.desired_replicas,
        stabilized,
        limited,
        f"stabilization (up window {up_window:g}s, down window {down_window:g}s): "
        f"{given.desired_replicas} -> {stabilized.replicas}",
    )
