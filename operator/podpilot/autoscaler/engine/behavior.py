"""``spec.behavior``: scaling rules, their defaults, rate limits and scale events.

Ports of ``GenerateHPAScaleUpRules``/``GenerateHPAScaleDownRules``
(``pkg/apis/autoscaling/v2/defaults.go``) and of ``calculateScaleUpLimitWithScalingRules``,
``calculateScaleDownLimitWithBehaviors``, ``getReplicasChangePerPeriod``,
``markScaleEventsOutdated``, ``getLongestPolicyPeriod`` and ``storeScaleEvent``
(``horizontal.go``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .history import ScaleEvent, reuse_slot
from .model import DEFAULT_TOLERANCE, MAX_INT32, MIN_INT32, Tolerances

__all__ = [
    "Behavior",
    "PolicyType",
    "ScalingPolicy",
    "ScalingRules",
    "SelectPolicy",
    "calculate_scale_down_limit_with_behaviors",
    "calculate_scale_up_limit_with_scaling_rules",
    "generate_scale_down_rules",
    "generate_scale_up_rules",
    "longest_policy_period",
    "mark_scale_events_outdated",
    "replicas_change_per_period",
    "store_scale_event",
    "tolerances_for",
]


class PolicyType(enum.StrEnum):
    """``HPAScalingPolicy.type``."""

    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(enum.StrEnum):
    """``HPAScalingRules.selectPolicy``."""

    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """One rate-limit policy: at most ``value`` pods or percent per ``period_seconds``."""

    type: PolicyType
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """``HPAScalingRules`` for one direction; None means "not set by the user".

    Attributes:
        stabilization_window_seconds: Stabilization window (0-3600).
        select_policy: How to combine policies.
        policies: The rate-limit policies.
        tolerance: Per-direction tolerance (KEP-4951), e.g. 0.05.
    """

    stabilization_window_seconds: int | None = None
    select_policy: SelectPolicy | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class Behavior:
    """``spec.behavior``; its presence selects the behavior normalization path."""

    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


_DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    select_policy=SelectPolicy.MAX,
    policies=(
        ScalingPolicy(PolicyType.PODS, 4, 15),
        ScalingPolicy(PolicyType.PERCENT, 100, 15),
    ),
)
# The scale-down window stays unset here: the controller fills it with its own
# downscale stabilization window at normalization time.
_DEFAULT_SCALE_DOWN = ScalingRules(
    select_policy=SelectPolicy.MAX,
    policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15),),
)


def _complete(user: ScalingRules | None, default: ScalingRules) -> ScalingRules:
    if user is None:
        return default
    # Each field the user set replaces the default as a whole (policy lists are not merged).
    return ScalingRules(
        stabilization_window_seconds=(
            user.stabilization_window_seconds
            if user.stabilization_window_seconds is not None
            else default.stabilization_window_seconds
        ),
        select_policy=user.select_policy
        if user.select_policy is not None
        else default.select_policy,
        policies=user.policies if user.policies is not None else default.policies,
        tolerance=user.tolerance if user.tolerance is not None else default.tolerance,
    )


def generate_scale_up_rules(rules: ScalingRules | None) -> ScalingRules:
    """Complete user scale-up rules with the API defaults (``GenerateHPAScaleUpRules``).

    Defaults: window 0 s, selectPolicy Max, policies Pods 4 / 15 s and Percent 100 / 15 s.
    """
    return _complete(rules, _DEFAULT_SCALE_UP)


def generate_scale_down_rules(rules: ScalingRules | None) -> ScalingRules:
    """Complete user scale-down rules with the API defaults (``GenerateHPAScaleDownRules``).

    Defaults: window unset (the controller's downscale window applies), selectPolicy
    Max, policy Percent 100 / 15 s.
    """
    return _complete(rules, _DEFAULT_SCALE_DOWN)


def tolerances_for(
    behavior: Behavior | None, default_tolerance: float = DEFAULT_TOLERANCE
) -> Tolerances:
    """Per-direction tolerances for one autoscaler (``tolerancesForHpa``, KEP-4951).

    Each side is the rule's ``tolerance`` when set, else the controller-wide default.
    """
    up = behavior.scale_up.tolerance if behavior and behavior.scale_up else None
    down = behavior.scale_down.tolerance if behavior and behavior.scale_down else None
    return Tolerances(
        scale_down=default_tolerance if down is None else down,
        scale_up=default_tolerance if up is None else up,
    )


def replicas_change_per_period(
    period_seconds: int, events: Sequence[ScaleEvent], *, now: float
) -> int:
    """Sum of the changes strictly younger than ``period_seconds`` (``getReplicasChangePerPeriod``).

    The ``outdated`` flag plays no part here; only timestamps do.
    """
    cutoff = now - period_seconds
    return sum(event.replica_change for event in events if event.timestamp > cutoff)


def _policies(rules: ScalingRules) -> tuple[ScalingPolicy, ...]:
    return rules.policies or ()


def _policy_period_starts(
    current_replicas: int,
    scale_up_events: Sequence[ScaleEvent],
    scale_down_events: Sequence[ScaleEvent],
    rules: ScalingRules,
    now: float,
) -> list[tuple[ScalingPolicy, int]]:
    """Each policy with the replica count at the start of its period."""
    starts = []
    for policy in _policies(rules):
        added = replicas_change_per_period(policy.period_seconds, scale_up_events, now=now)
        removed = replicas_change_per_period(policy.period_seconds, scale_down_events, now=now)
        starts.append((policy, current_replicas - added + removed))
    return starts


def calculate_scale_up_limit_with_scaling_rules(
    current_replicas: int,
    scale_up_events: Sequence[ScaleEvent],
    scale_down_events: Sequence[ScaleEvent],
    rules: ScalingRules,
    *,
    now: float,
) -> int:
    """The most replicas the scale-up policies allow now.

    Each policy starts from the replica count at the start of its period: Pods adds
    ``value``, Percent multiplies by ``1 + value/100`` and rounds up. ``Max`` takes the
    largest proposal, ``Min`` the smallest, ``Disabled`` returns ``current_replicas``.
    """
    if rules.select_policy is SelectPolicy.DISABLED:
        return current_replicas
    proposals = [
        start + policy.value
        if policy.type is PolicyType.PODS
        # Rounded up so that a small percentage still adds a pod.
        else math.ceil(float(start) * (1 + float(policy.value) / 100))
        for policy, start in _policy_period_starts(
            current_replicas, scale_up_events, scale_down_events, rules, now
        )
    ]
    if rules.select_policy is SelectPolicy.MIN:
        return min([MAX_INT32, *proposals])
    return max([MIN_INT32, *proposals])


def calculate_scale_down_limit_with_behaviors(
    current_replicas: int,
    scale_up_events: Sequence[ScaleEvent],
    scale_down_events: Sequence[ScaleEvent],
    rules: ScalingRules,
    *,
    now: float,
) -> int:
    """The fewest replicas the scale-down policies allow now.

    Pods subtracts ``value`` from the period-start count, Percent multiplies by
    ``1 - value/100`` and truncates toward zero (the result may be negative). ``Max``
    takes the smallest proposal (the biggest change), ``Min`` the largest,
    ``Disabled`` returns ``current_replicas``.
    """
    if rules.select_policy is SelectPolicy.DISABLED:
        return current_replicas
    proposals = [
        start - policy.value
        if policy.type is PolicyType.PODS
        else int(float(start) * (1 - float(policy.value) / 100))
        for policy, start in _policy_period_starts(
            current_replicas, scale_up_events, scale_down_events, rules, now
        )
    ]
    if rules.select_policy is SelectPolicy.MIN:
        return max([MIN_INT32, *proposals])
    return min([MAX_INT32, *proposals])


def longest_policy_period(rules: ScalingRules) -> int:
    """The longest ``periodSeconds`` among the rules' policies, 0 if none."""
    return max((policy.period_seconds for policy in _policies(rules)), default=0)


def mark_scale_events_outdated(
    events: Sequence[ScaleEvent], longest_period: int, *, now: float
) -> tuple[ScaleEvent, ...]:
    """Flag events older than ``longest_period`` seconds as outdated (the flag is sticky)."""
    cutoff = now - longest_period
    return tuple(
        replace(event, outdated=True) if event.timestamp < cutoff else event for event in events
    )


def _store(
    events: Sequence[ScaleEvent], rules: ScalingRules, change: int, now: float
) -> tuple[ScaleEvent, ...]:
    marked = mark_scale_events_outdated(events, longest_policy_period(rules), now=now)
    last_outdated = None
    for index, event in enumerate(marked):
        if event.outdated:
            last_outdated = index
    return reuse_slot(marked, last_outdated, ScaleEvent(change, now))


def store_scale_event(
    behavior: Behavior | None,
    scale_up_events: Sequence[ScaleEvent],
    scale_down_events: Sequence[ScaleEvent],
    *,
    previous_replicas: int,
    new_replicas: int,
    now: float,
) -> tuple[tuple[ScaleEvent, ...], tuple[ScaleEvent, ...]]:
    """Record a rescale in its direction's history (``storeScaleEvent``).

    Without ``behavior`` nothing is recorded. Otherwise events older than the
    direction's longest policy period are marked outdated and the new event replaces
    the last outdated one, or is appended. ``new_replicas == previous_replicas`` is
    recorded as a scale-down of 0, as upstream does.

    Args:
        behavior: The autoscaler's ``spec.behavior`` (rules completed or not).
        scale_up_events: Stored scale-up events.
        scale_down_events: Stored scale-down events.
        previous_replicas: Replicas before the rescale.
        new_replicas: Replicas after the rescale.
        now: When the rescale happened (epoch seconds).

    Returns:
        ``(scale_up_events, scale_down_events)``.
    """
    up, down = tuple(scale_up_events), tuple(scale_down_events)
    if behavior is None:
        return up, down
    if new_replicas > previous_replicas:
        rules = generate_scale_up_rules(behavior.scale_up)
        return _store(up, rules, new_replicas - previous_replicas, now), down
    rules = generate_scale_down_rules(behavior.scale_down)
    return up, _store(down, rules, previous_replicas - new_replicas, now)
