# ruff: noqa: E501  (one upstream case per line keeps the tables comparable with the Go source)
"""The pure tests of upstream's ``horizontal_test.go``, ported as table tests.

Case ids are ``<upstream test>/<upstream subtest or annotation>``. Upstream builds
timestamps from ``time.Now()``; here they are offsets from a fixed ``NOW``.

Ported cases (76), plus one own test of the legacy scale-up limit:

- TestConvertDesiredReplicasWithRules: 5
- TestCalculateScaleUpLimitWithScalingRules: 1
- TestCalculateScaleDownLimitWithBehaviors: 1
- TestNormalizeDesiredReplicas: 5
- TestScalingWithRules: 42 (upstream skips "scaleDownLimit is the limit because
  scaleDownLimit > minReplicas with user defined policies" via ``testThis``; it runs here)
- TestStoreScaleEvents: 8 (each checked for scale-up and scale-down, as upstream does)
- TestNormalizeDesiredReplicasWithBehavior: 11
- controller-loop tests reduced to their pure decision: TestScaleUpOneMetricEmpty,
  TestNoScaleDownOneMetricInvalid, TestNoScaleDownOneMetricEmpty: 3
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from podpilot.autoscaler.engine import (
    Behavior,
    ConditionType,
    MetricOutcome,
    PodInfo,
    PodMetric,
    PolicyType,
    Reason,
    ScaleEvent,
    ScalingHistory,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    TimestampedRecommendation,
    decide,
    resource_utilization_replicas,
)
from podpilot.autoscaler.engine.behavior import (
    calculate_scale_down_limit_with_behaviors,
    calculate_scale_up_limit_with_scaling_rules,
    generate_scale_down_rules,
    generate_scale_up_rules,
    replicas_change_per_period,
    store_scale_event,
)
from podpilot.autoscaler.engine.model import ContainerSpec, ReadyCondition
from podpilot.autoscaler.engine.normalization import (
    calculate_scale_up_limit,
    convert_desired_replicas_with_behavior_rate,
    convert_desired_replicas_with_rules,
)
from podpilot.autoscaler.engine.stabilization import (
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
)

from .helpers import NOW


def scaling_rules(
    pods: int, pods_period: int, percent: int, percent_period: int, window: int
) -> ScalingRules:
    """``generateScalingRules``: selectPolicy Max, a policy per non-zero value."""
    policies = []
    if pods:
        policies.append(ScalingPolicy(PolicyType.PODS, pods, pods_period))
    if percent:
        policies.append(ScalingPolicy(PolicyType.PERCENT, percent, percent_period))
    return ScalingRules(window, SelectPolicy.MAX, tuple(policies) or None)


def uniform_events(changes: list[int], period_seconds: int) -> tuple[ScaleEvent, ...]:
    """``generateEventsUniformDistribution``: one event in the middle of each segment."""
    segment = period_seconds / len(changes)
    events = []
    for index, change in enumerate(changes):
        # Go converts the float to a Duration, truncating before multiplying by a second.
        seconds_ago = int(period_seconds - segment * (index + 1) + segment / 2)
        events.append(ScaleEvent(change, NOW - seconds_ago))
    return tuple(events)


def rec(replicas: int, minutes_ago: float) -> TimestampedRecommendation:
    return TimestampedRecommendation(replicas, NOW - minutes_ago * 60)


CONVERT_CASES = [
    pytest.param(5, 7, 3, 8, 7, Reason.DESIRED_WITHIN_RANGE, id="TestConvertDesiredReplicasWithRules/prenormalized desired replicas within range"),
    pytest.param(3, 1, 2, 8, 2, Reason.TOO_FEW_REPLICAS, id="TestConvertDesiredReplicasWithRules/prenormalized desired replicas < minReplicas"),
    pytest.param(1, 0, 0, 10, 0, Reason.DESIRED_WITHIN_RANGE, id="TestConvertDesiredReplicasWithRules/prenormalized desired replicas within range (minReplicas 0)"),
    pytest.param(20, 1000, 1, 10, 10, Reason.TOO_MANY_REPLICAS, id="TestConvertDesiredReplicasWithRules/maxReplicas is the limit because maxReplicas < scaleUpLimit"),
    pytest.param(3, 1000, 1, 2000, calculate_scale_up_limit(3), Reason.SCALE_UP_LIMIT, id="TestConvertDesiredReplicasWithRules/scaleUpLimit is the limit because scaleUpLimit < maxReplicas"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "desired", "minimum", "maximum", "expected", "reason"), CONVERT_CASES
)
def test_convert_desired_replicas_with_rules(
    current: int, desired: int, minimum: int, maximum: int, expected: int, reason: Reason
) -> None:
    limited = convert_desired_replicas_with_rules(current, desired, minimum, maximum)
    assert (limited.replicas, limited.reason) == (expected, reason)


def test_calculate_scale_up_limit_is_double_or_four() -> None:
    """The scale-limit rule behind TestConvertDesiredReplicasWithRules' last case."""
    assert [calculate_scale_up_limit(n) for n in (0, 1, 2, 3, 20)] == [4, 4, 4, 6, 40]


MIN_CHANGE_RULES = ScalingRules(
    300,
    SelectPolicy.MIN,
    (ScalingPolicy(PolicyType.PODS, 2, 60), ScalingPolicy(PolicyType.PERCENT, 50, 60)),
)


def test_calculate_scale_up_limit_with_scaling_rules() -> None:
    """TestCalculateScaleUpLimitWithScalingRules."""
    assert calculate_scale_up_limit_with_scaling_rules(1, (), (), MIN_CHANGE_RULES, now=NOW) == 2


def test_calculate_scale_down_limit_with_behaviors() -> None:
    """TestCalculateScaleDownLimitWithBehaviors."""
    assert calculate_scale_down_limit_with_behaviors(5, (), (), MIN_CHANGE_RULES, now=NOW) == 3


NORMALIZE_CASES = [
    pytest.param((), 5, 5, 1, id="TestNormalizeDesiredReplicas/empty log"),
    pytest.param((rec(4, 2), rec(5, 1)), 3, 5, 3, id="TestNormalizeDesiredReplicas/stabilize"),
    pytest.param((rec(1, 2), rec(2, 1)), 3, 3, 3, id="TestNormalizeDesiredReplicas/no stabilize"),
    pytest.param((rec(10, 10), rec(9, 9)), 3, 3, 2, id="TestNormalizeDesiredReplicas/no stabilize - old recommendations"),
    pytest.param((rec(10, 10), rec(4, 1), rec(5, 2), rec(9, 9)), 3, 5, 4, id="TestNormalizeDesiredReplicas/stabilize - old recommendations"),
]  # fmt: skip


@pytest.mark.parametrize(("history", "desired", "stabilized", "log_length"), NORMALIZE_CASES)
def test_normalize_desired_replicas(
    history: tuple[TimestampedRecommendation, ...], desired: int, stabilized: int, log_length: int
) -> None:
    result = stabilize_recommendation(history, desired, now=NOW, downscale_stabilization_window=300)
    assert result.replicas == stabilized
    assert len(result.recommendations) == log_length


@dataclass(frozen=True)
class RulesCase:
    current: int
    desired: int
    minimum: int
    maximum: int
    expected: int
    reason: Reason
    up_rules: ScalingRules | None = None
    down_rules: ScalingRules | None = None
    up_events: tuple[ScaleEvent, ...] = ()
    down_events: tuple[ScaleEvent, ...] = ()


R = Reason
SCALING_WITH_RULES_CASES = [
    pytest.param(RulesCase(5, 7, 3, 8, 7, R.DESIRED_WITHIN_RANGE), id="TestScalingWithRules/prenormalized desired replicas within range"),
    pytest.param(RulesCase(3, 1, 2, 8, 2, R.TOO_FEW_REPLICAS), id="TestScalingWithRules/prenormalized desired replicas < minReplicas"),
    pytest.param(RulesCase(1, 0, 0, 10, 0, R.DESIRED_WITHIN_RANGE), id="TestScalingWithRules/prenormalized desired replicas within range when minReplicas is 0"),
    pytest.param(RulesCase(20, 1000, 1, 10, 10, R.TOO_MANY_REPLICAS), id="TestScalingWithRules/maxReplicas is the limit because maxReplicas < scaleUpLimit"),
    pytest.param(RulesCase(100, 1000, 100, 150, 150, R.TOO_MANY_REPLICAS), id="TestScalingWithRules/desired replica count is more than the maximum replica count"),
    pytest.param(RulesCase(3, 1000, 1, 2000, 4, R.SCALE_UP_LIMIT, up_rules=scaling_rules(0, 0, 1, 60, 0)), id="TestScalingWithRules/scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies"),
    pytest.param(RulesCase(1000, 3, 3, 2000, 980, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(20, 60, 0, 0, 0)), id="TestScalingWithRules/scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies"),
    pytest.param(RulesCase(10, 50, 1, 1000, 20, R.SCALE_UP_LIMIT), id="TestScalingWithRules/scaleUp with default behavior"),
    pytest.param(RulesCase(10, 500, 1, 1000, 110, R.SCALE_UP_LIMIT, up_rules=scaling_rules(100, 60, 100, 60, 0)), id="TestScalingWithRules/scaleUp with pods policy larger than percent policy"),
    pytest.param(RulesCase(10, 500, 1, 1000, 20, R.SCALE_UP_LIMIT, up_rules=scaling_rules(2, 60, 100, 60, 0)), id="TestScalingWithRules/scaleUp with percent policy larger than pods policy"),
    pytest.param(RulesCase(10, 50, 1, 1000, 50, R.DESIRED_WITHIN_RANGE, up_rules=scaling_rules(100, 60, 0, 0, 0)), id="TestScalingWithRules/scaleUp with spec MaxReplicas limitation with large pod policy"),
    pytest.param(RulesCase(10, 50, 1, 1000, 50, R.DESIRED_WITHIN_RANGE, up_rules=scaling_rules(10000, 60, 0, 0, 0)), id="TestScalingWithRules/scaleUp with spec MaxReplicas limitation with large percent policy"),
    pytest.param(RulesCase(10, 50, 1, 1000, 40, R.SCALE_UP_LIMIT, up_rules=scaling_rules(30, 60, 0, 0, 0)), id="TestScalingWithRules/scaleUp with pod policy limitation"),
    pytest.param(RulesCase(10, 50, 1, 1000, 30, R.SCALE_UP_LIMIT, up_rules=scaling_rules(0, 0, 200, 60, 0)), id="TestScalingWithRules/scaleUp with percent policy limitation"),
    pytest.param(RulesCase(100, 2, 1, 1000, 80, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(20, 60, 1, 60, 300)), id="TestScalingWithRules/scaleDown with percent policy larger than pod policy"),
    pytest.param(RulesCase(100, 2, 1, 1000, 98, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(2, 60, 1, 60, 300)), id="TestScalingWithRules/scaleDown with pod policy larger than percent policy"),
    pytest.param(RulesCase(10, 0, 1, 1000, 1, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(100, 60, 0, 0, 300)), id="TestScalingWithRules/scaleDown with spec MinReplicas=nil limitation with large pod policy"),
    pytest.param(RulesCase(10, 0, 1, 1000, 1, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(100, 60, 0, 0, 300)), id="TestScalingWithRules/scaleDown with spec MinReplicas limitation with large pod policy"),
    pytest.param(RulesCase(10, 2, 5, 1000, 5, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(0, 0, 100, 60, 300)), id="TestScalingWithRules/scaleDown with spec MinReplicas limitation with large percent policy"),
    pytest.param(RulesCase(10, 2, 1, 1000, 5, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(5, 60, 0, 0, 300)), id="TestScalingWithRules/scaleDown with pod policy limitation"),
    pytest.param(RulesCase(10, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_rules=scaling_rules(0, 0, 50, 60, 300)), id="TestScalingWithRules/scaleDown with percent policy limitation"),
    pytest.param(RulesCase(100, 500, 1, 200, 200, R.TOO_MANY_REPLICAS, up_rules=scaling_rules(300, 60, 0, 0, 0), up_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleUp with spec MaxReplicas limitation with large pod policy and events"),
    pytest.param(RulesCase(100, 500, 1, 200, 200, R.TOO_MANY_REPLICAS, up_rules=scaling_rules(0, 0, 10000, 60, 0), up_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleUp with spec MaxReplicas limitation with large percent policy and events"),
    pytest.param(RulesCase(100, 500, 1, 1000, 100, R.SCALE_UP_LIMIT, up_rules=scaling_rules(5, 120, 0, 0, 0), up_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events"),
    pytest.param(RulesCase(100, 500, 1, 1000, 235, R.SCALE_UP_LIMIT, up_rules=scaling_rules(150, 120, 0, 0, 0), up_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleUp with pod policy and previous scale up events"),
    pytest.param(RulesCase(100, 500, 1, 1000, 255, R.SCALE_UP_LIMIT, up_rules=scaling_rules(0, 0, 200, 120, 0), up_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleUp with percent policy and previous scale up events"),
    pytest.param(RulesCase(6, 24, 1, 1000, 16, R.SCALE_UP_LIMIT, up_rules=scaling_rules(0, 0, 300, 300, 0), up_events=uniform_events([4], 120), down_events=uniform_events([2], 120)), id="TestScalingWithRules/scaleUp with percent policy and previous scale up and down events"),
    pytest.param(RulesCase(10, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleDown with default policy and previous events"),
    pytest.param(RulesCase(100, 0, 1, 1000, 1, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(115, 120, 0, 0, 300), down_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events"),
    pytest.param(RulesCase(100, 0, 5, 1000, 5, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(130, 120, 0, 0, 300), down_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleDown with spec MinReplicas limitation with large pod policy and previous events"),
    pytest.param(RulesCase(100, 2, 5, 1000, 5, R.TOO_FEW_REPLICAS, down_rules=scaling_rules(0, 0, 100, 120, 300), down_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleDown with spec MinReplicas limitation with large percent policy and previous events"),
    pytest.param(RulesCase(100, 2, 1, 1000, 100, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(5, 120, 0, 0, 300), down_events=uniform_events([1, 5, 9], 120)), id="TestScalingWithRules/scaleDown with pod policy limitation and previous events"),
    pytest.param(RulesCase(100, 0, 1, 1000, 56, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(0, 0, 50, 120, 300), down_events=uniform_events([2, 4, 6], 120)), id="TestScalingWithRules/scaleDown with percent policy limitation and previous events"),
    pytest.param(RulesCase(10, 1, 1, 1000, 6, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(0, 0, 50, 180, 0), up_events=uniform_events([2], 120), down_events=uniform_events([4], 120)), id="TestScalingWithRules/scaleDown with percent policy and previous scale up and down events"),
    pytest.param(RulesCase(100, 0, 1, 1000, 100, R.SCALE_DOWN_LIMIT, down_rules=scaling_rules(0, 0, 10, 120, 300), down_events=uniform_events([10, 10, 10], 120)), id="TestScalingWithRules/scaleDown with previous events preventing further scale down"),
    pytest.param(RulesCase(10, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_rules=scaling_rules(0, 0, 1000, 120, 300), down_events=uniform_events([10, 10, 10], 120)), id="TestScalingWithRules/scaleDown with with previous events still allowing more scale down"),
    pytest.param(RulesCase(100, 200, 1, 1000, 200, R.DESIRED_WITHIN_RANGE, up_rules=scaling_rules(1000, 60, 0, 0, 0), up_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check 'outdated' flag for events for one behavior for up"),
    pytest.param(RulesCase(100, 200, 1, 1000, 200, R.DESIRED_WITHIN_RANGE, up_rules=scaling_rules(1000, 120, 100, 60, 0), up_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check that events were not marked 'outdated' for two different policies in the behavior for up"),
    pytest.param(RulesCase(100, 200, 1, 1000, 200, R.DESIRED_WITHIN_RANGE, up_rules=scaling_rules(1000, 30, 100, 60, 0), up_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check that events were marked 'outdated' for two different policies in the behavior for up"),
    pytest.param(RulesCase(100, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_rules=scaling_rules(1000, 60, 0, 0, 300), down_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check 'outdated' flag for events for one behavior for down"),
    pytest.param(RulesCase(100, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_rules=scaling_rules(1000, 120, 100, 60, 300), down_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check that events were not marked 'outdated' for two different policies in the behavior for down"),
    pytest.param(RulesCase(100, 5, 1, 1000, 5, R.DESIRED_WITHIN_RANGE, down_rules=scaling_rules(1000, 30, 100, 60, 300), down_events=uniform_events([8, 12, 9, 11], 120)), id="TestScalingWithRules/check that events were marked 'outdated' for two different policies in the behavior for down"),
]  # fmt: skip


@pytest.mark.parametrize("case", SCALING_WITH_RULES_CASES)
def test_scaling_with_rules(case: RulesCase) -> None:
    limited = convert_desired_replicas_with_behavior_rate(
        current_replicas=case.current,
        desired_replicas=case.desired,
        min_replicas=case.minimum,
        max_replicas=case.maximum,
        scale_up_rules=generate_scale_up_rules(case.up_rules),
        scale_down_rules=generate_scale_down_rules(case.down_rules),
        scale_up_events=case.up_events,
        scale_down_events=case.down_events,
        now=NOW,
    )
    assert (limited.replicas, limited.reason) == (case.expected, case.reason)


def event(change: int, seconds_ago: float, outdated: bool = False) -> ScaleEvent:
    return ScaleEvent(change, NOW - seconds_ago, outdated)


STORE_CASES = [
    pytest.param((), (), None, 0, id="TestStoreScaleEvents/empty entries with default behavior"),
    pytest.param((), ((5, False),), scaling_rules(10, 60, 100, 60, 0), 0, id="TestStoreScaleEvents/empty entries with two-policy-behavior"),
    pytest.param((event(7, 61),), ((7, False),), None, 0, id="TestStoreScaleEvents/one outdated entry to be kept untouched without behavior"),
    pytest.param((event(7, 61),), ((5, False),), scaling_rules(10, 60, 100, 60, 0), 0, id="TestStoreScaleEvents/one outdated entry to be replaced with behavior"),
    pytest.param((event(7, 58),), ((7, False), (5, False)), scaling_rules(10, 60, 100, 60, 0), 7, id="TestStoreScaleEvents/one actual entry to be not touched with behavior"),
    pytest.param((event(7, 61), event(6, 59)), ((5, False), (6, False)), scaling_rules(10, 60, 0, 0, 0), 6, id="TestStoreScaleEvents/two entries, one of them to be replaced"),
    pytest.param((event(8, 29), event(6, 59), event(7, 61), event(9, 61)), ((8, False), (6, False), (7, True), (5, False)), scaling_rules(10, 60, 100, 30, 0), 14, id="TestStoreScaleEvents/replace one entry, use policies with different periods"),
    pytest.param((event(7, 58), event(6, 59)), ((7, False), (6, False), (5, False)), scaling_rules(10, 120, 100, 30, 0), 13, id="TestStoreScaleEvents/two entries, both actual"),
]  # fmt: skip


@pytest.mark.parametrize(("previous", "expected", "rules", "change_in_last_minute"), STORE_CASES)
def test_store_scale_events(
    previous: tuple[ScaleEvent, ...],
    expected: tuple[tuple[int, bool], ...],
    rules: ScalingRules | None,
    change_in_last_minute: int,
) -> None:
    assert replicas_change_per_period(60, previous, now=NOW) == change_in_last_minute
    behavior_up = Behavior(scale_up=rules) if rules is not None else None
    up, _ = store_scale_event(
        behavior_up, previous, (), previous_replicas=10, new_replicas=15, now=NOW
    )
    assert [(item.replica_change, item.outdated) for item in up] == list(expected)
    behavior_down = Behavior(scale_down=rules) if rules is not None else None
    _, down = store_scale_event(
        behavior_down, (), previous, previous_replicas=10, new_replicas=5, now=NOW
    )
    assert [(item.replica_change, item.outdated) for item in down] == list(expected)


BEHAVIOR_STABILIZATION_CASES = [
    pytest.param((), 100, 5, 5, (5,), 0, 0, id="TestNormalizeDesiredReplicasWithBehavior/empty recommendations for scaling down"),
    pytest.param((rec(4, 2), rec(5, 1)), 100, 3, 5, (4, 5, 3), 0, 180, id="TestNormalizeDesiredReplicasWithBehavior/simple scale down stabilization"),
    pytest.param((rec(4, 2), rec(5, 1)), 1, 7, 4, (4, 5, 7), 300, 0, id="TestNormalizeDesiredReplicasWithBehavior/simple scale up stabilization"),
    pytest.param((rec(1, 2), rec(2, 1)), 100, 3, 3, (1, 2, 3), 300, 0, id="TestNormalizeDesiredReplicasWithBehavior/no scale down stabilization"),
    pytest.param((rec(4, 2), rec(5, 1)), 1, 3, 3, (4, 5, 3), 0, 300, id="TestNormalizeDesiredReplicasWithBehavior/no scale up stabilization"),
    pytest.param((rec(10, 10), rec(9, 9)), 100, 3, 3, (10, 3), 0, 0, id="TestNormalizeDesiredReplicasWithBehavior/no scale down stabilization, reuse recommendation element"),
    pytest.param((rec(10, 10), rec(9, 9)), 1, 100, 100, (10, 100), 0, 0, id="TestNormalizeDesiredReplicasWithBehavior/no scale up stabilization, reuse recommendation element"),
    pytest.param((rec(10, 10), rec(4, 1), rec(5, 2), rec(9, 9)), 100, 3, 5, (10, 4, 5, 3), 0, 180, id="TestNormalizeDesiredReplicasWithBehavior/scale down stabilization, reuse one of obsolete recommendation element"),
    pytest.param((rec(10, 100), rec(6, 1), rec(5, 2), rec(9, 3)), 1, 100, 5, (100, 6, 5, 9), 300, 0, id="TestNormalizeDesiredReplicasWithBehavior/scale up stabilization, reuse one of obsolete recommendation element"),
    pytest.param((rec(2, 100), rec(3, 3)), 2, 1, 2, None, 300, 300, id="TestNormalizeDesiredReplicasWithBehavior/scale up and down stabilization, do not scale up when prenormalized rec goes down"),
    pytest.param((rec(2, 100), rec(1, 3)), 2, 3, 2, None, 300, 300, id="TestNormalizeDesiredReplicasWithBehavior/scale up and down stabilization, do not scale down when prenormalized rec goes up"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("history", "current", "desired", "stabilized", "stored", "up_window", "down_window"),
    BEHAVIOR_STABILIZATION_CASES,
)
def test_normalize_desired_replicas_with_behavior(
    history: tuple[TimestampedRecommendation, ...],
    current: int,
    desired: int,
    stabilized: int,
    stored: tuple[int, ...] | None,
    up_window: int,
    down_window: int,
) -> None:
    result = stabilize_recommendation_with_behaviors(
        history,
        current_replicas=current,
        desired_replicas=desired,
        scale_up_window=up_window,
        scale_down_window=down_window,
        now=NOW,
    )
    assert result.replicas == stabilized
    if stored is not None:
        assert tuple(item.replicas for item in result.recommendations) == stored


def _cpu_outcome(current: int, target: int, usages: tuple[int, ...]) -> MetricOutcome:
    pods = [
        PodInfo(
            f"test-pod-{index}",
            start_time=NOW - 3600,
            ready=ReadyCondition(True, NOW - 3600),
            containers=(ContainerSpec("container1", {"cpu": 1000}),),
        )
        for index in range(len(usages))
    ]
    metrics = {f"test-pod-{index}": PodMetric(value, NOW) for index, value in enumerate(usages)}
    proposal = resource_utilization_replicas(
        current_replicas=current,
        target_utilization=target,
        resource="cpu",
        pods=pods,
        metrics=metrics,
        now=NOW,
    )
    return MetricOutcome("cpu resource utilization (percentage of request)", proposal)


CONTROLLER_CASES = [
    pytest.param(3, 2, 6, (_cpu_outcome(3, 30, (300, 400, 500)), MetricOutcome.failed("external metric qps", R.FAILED_GET_EXTERNAL_METRIC, "something went wrong")), 4, R.VALID_METRIC_FOUND, True, id="TestScaleUpOneMetricEmpty"),
    pytest.param(5, 2, 6, (_cpu_outcome(5, 50, (100, 300, 500, 250, 250)), MetricOutcome.failed("CheddarCheese", R.INVALID_METRIC_SOURCE_TYPE, "unknown metric source type")), 5, R.INVALID_METRIC_SOURCE_TYPE, False, id="TestNoScaleDownOneMetricInvalid"),
    pytest.param(5, 2, 6, (_cpu_outcome(5, 50, (100, 300, 500, 250, 250)), MetricOutcome.failed("external metric qps", R.FAILED_GET_EXTERNAL_METRIC, "something went wrong")), 5, R.FAILED_GET_EXTERNAL_METRIC, False, id="TestNoScaleDownOneMetricEmpty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "minimum", "maximum", "outcomes", "expected", "active_reason", "active"),
    CONTROLLER_CASES,
)
def test_controller_decisions_with_an_invalid_metric(
    current: int,
    minimum: int,
    maximum: int,
    outcomes: tuple[MetricOutcome, ...],
    expected: int,
    active_reason: Reason,
    active: bool,
) -> None:
    decision = decide(
        current_replicas=current,
        min_replicas=minimum,
        max_replicas=maximum,
        metrics=outcomes,
        history=ScalingHistory(),
        now=NOW,
    )
    assert decision.desired_replicas == expected
    scaling_active = decision.condition(ConditionType.SCALING_ACTIVE)
    assert scaling_active is not None
    assert (scaling_active.reason, scaling_active.status) == (active_reason, active)
