"""The "why not scaling" reasons, each read off a decision the real ``decide`` made."""

from __future__ import annotations

from typing import Any

import pytest

from podpilot.autoscaler.api.limits import LIMIT_REASONS, LimitReason, limit_reasons
from podpilot.autoscaler.api.owners import ScaleOwner
from podpilot.autoscaler.api.result import MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.engine import (
    MetricOutcome,
    ReplicaProposal,
    ScalingHistory,
    TimestampedRecommendation,
)
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.policy.plan import Memory, Observations, decide

NOW = 50_000.0
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
FRESH = Memory(history=None)
ONE_POD_A_MINUTE = {"type": "Pods", "value": 1, "periodSeconds": 60}
NO_WINDOWS = {"scaleUp": {"stabilizationWindowSeconds": 0},
              "scaleDown": {"stabilizationWindowSeconds": 0}}  # fmt: skip


def spec(**fields: Any) -> AutoscalerSpec:
    raw = {"scaleTargetRef": TARGET, "minReplicas": 2, "maxReplicas": 10, "metrics": [CPU]}
    return parse_spec({**raw, **fields})


def proposing(
    autoscaler: AutoscalerSpec, replicas: int, *, ratio: float = 1.5, tolerated: bool = False
) -> MetricResult:
    metric = autoscaler.metrics[0]
    proposal = ReplicaProposal(replicas, 0, ratio, within_tolerance=tolerated)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal))


def failing(autoscaler: AutoscalerSpec) -> MetricResult:
    metric = autoscaler.metrics[0]
    outcome = MetricOutcome.failed(metric.display_name, Reason.FAILED_GET_RESOURCE_METRIC, "x")
    return MetricResult(metric, outcome)


def observed(current: int, *metrics: MetricResult, **extra: Any) -> Observations:
    return Observations(NOW, "Deployment/web", current, "app=web", metrics=metrics, **extra)


def reasons_of(
    autoscaler: AutoscalerSpec, observations: Observations, memory: Memory = FRESH
) -> frozenset[LimitReason]:
    return limit_reasons(decide(autoscaler, observations, memory).result)


def test_the_reason_set_is_fixed_and_holds_the_documented_names() -> None:
    assert [str(reason) for reason in LIMIT_REASONS] == [
        "max_replicas", "min_replicas", "scale_up_policy", "scale_down_policy",
        "stabilization_window", "tolerance", "missing_metrics", "paused", "dry_run",
        "fallback", "scaling_disabled", "ambiguous_target",
    ]  # fmt: skip


def test_nothing_holds_a_free_scale_up() -> None:
    autoscaler = spec(behavior=NO_WINDOWS)
    assert reasons_of(autoscaler, observed(3, proposing(autoscaler, 5))) == frozenset()


def test_a_proposal_above_max_is_max_replicas() -> None:
    autoscaler = spec(behavior=NO_WINDOWS)
    assert reasons_of(autoscaler, observed(10, proposing(autoscaler, 14))) == {
        LimitReason.MAX_REPLICAS
    }


def test_a_proposal_below_min_is_min_replicas() -> None:
    autoscaler = spec(behavior=NO_WINDOWS)
    assert reasons_of(autoscaler, observed(2, proposing(autoscaler, 1, ratio=0.4))) == {
        LimitReason.MIN_REPLICAS
    }


def test_a_scale_up_policy_and_the_legacy_step_are_scale_up_policy() -> None:
    policy = {"scaleUp": {"stabilizationWindowSeconds": 0, "policies": [ONE_POD_A_MINUTE]}}
    with_policy = spec(behavior=policy)
    legacy = spec()  # without behavior: at most max(2 x 2, 4) = 4 in one step
    assert reasons_of(with_policy, observed(3, proposing(with_policy, 6))) == {
        LimitReason.SCALE_UP_POLICY
    }
    assert reasons_of(legacy, observed(2, proposing(legacy, 9))) == {LimitReason.SCALE_UP_POLICY}


def test_a_scale_down_policy_is_scale_down_policy() -> None:
    policy = {"scaleDown": {"stabilizationWindowSeconds": 0, "policies": [ONE_POD_A_MINUTE]}}
    autoscaler = spec(behavior=policy)
    assert reasons_of(autoscaler, observed(8, proposing(autoscaler, 3, ratio=0.3))) == {
        LimitReason.SCALE_DOWN_POLICY
    }


def test_a_recent_higher_recommendation_is_stabilization_window() -> None:
    autoscaler = spec()  # the default 300 s scale-down window
    memory = Memory(ScalingHistory((TimestampedRecommendation(6, NOW - 60),)))
    found = reasons_of(autoscaler, observed(6, proposing(autoscaler, 3, ratio=0.5)), memory)
    assert found == {LimitReason.STABILIZATION_WINDOW}


@pytest.mark.parametrize(
    ("ratio", "tolerated", "expected"),
    [
        (1.05, True, {LimitReason.TOLERANCE}),  # off target, kept by the band
        (1.0, True, frozenset()),  # exactly on target: nothing is held back
        (1.05, False, frozenset()),  # kept for another reason (rounding, direction)
    ],
    ids=["inside-the-band", "on-target", "not-the-tolerance"],
)
def test_tolerance_only_when_the_band_kept_an_off_target_count(
    ratio: float, tolerated: bool, expected: frozenset[LimitReason]
) -> None:
    autoscaler = spec()
    found = reasons_of(autoscaler, observed(4, proposing(autoscaler, 4, ratio=ratio,
                                                         tolerated=tolerated)))  # fmt: skip
    assert found == expected


def test_a_failed_metric_is_missing_metrics() -> None:
    autoscaler = spec()
    assert reasons_of(autoscaler, observed(4, failing(autoscaler))) == {LimitReason.MISSING_METRICS}


def test_paused_and_dry_run_only_when_they_withheld_a_change() -> None:
    paused, dry = spec(paused=True), spec(mode="DryRun")
    assert reasons_of(paused, observed(3, proposing(paused, 5))) == {LimitReason.PAUSED}
    assert reasons_of(dry, observed(3, proposing(dry, 5))) == {LimitReason.DRY_RUN}
    steady = proposing(paused, 3, ratio=1.0)
    assert reasons_of(paused, observed(3, steady)) == frozenset()


def test_the_fallback_is_fallback_beside_missing_metrics() -> None:
    autoscaler = spec(fallback={"policy": "Static", "replicas": 5, "failureThreshold": 1})
    memory = Memory(ScalingHistory.seeded(3, NOW - 100), consecutive_failures=3,
                    last_replicas=3, failing_since=NOW - 100)  # fmt: skip
    found = reasons_of(autoscaler, observed(3, failing(autoscaler)), memory)
    assert {LimitReason.FALLBACK, LimitReason.MISSING_METRICS} <= found


def test_a_target_at_zero_with_min_above_zero_is_scaling_disabled() -> None:
    assert reasons_of(spec(), observed(0)) == {LimitReason.SCALING_DISABLED}


def test_another_owner_is_ambiguous_target() -> None:
    other = ScaleOwner("HorizontalPodAutoscaler", "team", "web")
    found = reasons_of(spec(), observed(3, other_owners=(other,)))
    assert found == {LimitReason.AMBIGUOUS_TARGET}
