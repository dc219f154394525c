"""The fallback in wall time, through the engine's normalization; every case from values.

Each scenario chains evaluations as the loop does (``Memory.after`` of each result, the
rescale recorded when the plan patched), with failed evaluations spaced as the backoff
retries them (5 s, 10 s, 20 s after the previous one).
"""

from __future__ import annotations

from typing import Any

from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal, ScalingHistory
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    Plan,
    ScaleFailure,
    decide,
    rescaled,
)

T0 = 1_800_000_000.0  # the first failed evaluation
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
BACKOFF_RETRIES = (0.0, 5.0, 15.0, 35.0)  # retried after 5, 10 and 20 s: 4 failures in 35 s


def autoscaler(fallback: dict[str, Any], **fields: Any) -> AutoscalerSpec:
    raw = {
        "scaleTargetRef": TARGET,
        "maxReplicas": 10,
        "metrics": [CPU],
        "evaluationPeriodSeconds": 15,
        "fallback": {"failureThreshold": 3, **fallback},  # 3 x 15 s = 45 s
        **fields,
    }
    return parse_spec(raw)


def failing(spec: AutoscalerSpec) -> MetricResult:
    metric = spec.metrics[0]
    outcome = MetricOutcome.failed(
        metric.display_name, Reason.FAILED_GET_RESOURCE_METRIC, "metrics API unreachable"
    )
    return MetricResult(metric, outcome)


def proposing(spec: AutoscalerSpec, replicas: int) -> MetricResult:
    metric = spec.metrics[0]
    proposal = ReplicaProposal(replicas=replicas, current_value=50, usage_ratio=1.0)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal))


class Autoscaler:
    """One Autoscaler's evaluations, its memory carried from one to the next."""

    def __init__(self, spec: AutoscalerSpec, replicas: int, memory: Memory) -> None:
        self.spec, self.replicas, self.memory = spec, replicas, memory

    def evaluate(self, at: float, reading: MetricResult | None = None) -> Plan:
        reading = reading if reading is not None else failing(self.spec)
        observations = Observations(
            at, "Deployment/web", self.replicas, "app=web", metrics=(reading,)
        )
        return self._carry(decide(self.spec, observations, self.memory))

    def scale_unreadable(self, at: float) -> Plan:
        failure = ScaleFailure("FailedGetScale", "deployments.apps web: connection refused")
        observations = Observations(at, "Deployment/web", scale_failure=failure)
        return self._carry(decide(self.spec, observations, self.memory))

    def _carry(self, plan: Plan) -> Plan:
        result = rescaled(plan, self.spec.behavior) if plan.patch else plan.result
        self.memory = Memory.after(result)
        self.replicas = result.desired_replicas if plan.patch else self.replicas
        return plan


def settled(replicas: int, since: float = T0 - 600) -> Memory:
    """An Autoscaler whose only recommendation, ``replicas``, is old enough to be ignored."""
    return Memory(ScalingHistory.seeded(replicas, since), last_replicas=replicas)


def condition(result: EvaluationResult, kind: str) -> tuple[bool, str, str]:
    """The last condition of that type as (status, reason, message); it must be there."""
    found = [(c.status, c.reason, c.message) for c in result.conditions if c.type == kind]
    assert found, f"no {kind} condition"
    return found[-1]


def reasons(result: EvaluationResult) -> list[str]:
    return [event.reason for event in result.events]


def test_the_spec_reads_allow_scale_down_false_by_default_and_the_delay_in_periods() -> None:
    spec = autoscaler({"policy": "Static", "replicas": 4})
    assert spec.fallback.allow_scale_down is False
    assert spec.fallback_delay == 45.0
    assert autoscaler(
        {"policy": "Static", "replicas": 4, "allowScaleDown": True}
    ).fallback.allow_scale_down


def test_failures_retried_by_the_backoff_do_not_bring_the_fallback_forward() -> None:
    web = Autoscaler(autoscaler({"policy": "Static", "replicas": 4}), 2, settled(2))
    for offset in BACKOFF_RETRIES:
        plan = web.evaluate(T0 + offset)
        assert (plan.patch, plan.result.desired_replicas) == (False, 2)
        assert not plan.result.fallback_applied
        assert plan.result.failing_since == T0
        assert condition(plan.result, "FallbackActive")[:2] == (False, "MetricsAvailable")
    # Four failed evaluations, more than failureThreshold, yet only 35 s of failure.
    assert web.memory.consecutive_failures == 4
    at_44 = web.evaluate(T0 + 44.9)
    assert not at_44.patch and not at_44.result.fallback_applied
    due = web.evaluate(T0 + 45)
    assert (due.patch, due.result.desired_replicas, due.result.action) == (True, 4, Action.RESCALED)
    assert due.result.fallback_applied
    assert due.reason == "static fallback: no metric could be read"
    assert condition(due.result, "FallbackActive")[:2] == (True, "StaticFallback")
    assert "FallbackActivated" in reasons(due.result)


def test_a_new_failing_streak_starts_the_clock_again() -> None:
    web = Autoscaler(autoscaler({"policy": "Static", "replicas": 4}), 2, settled(2))
    web.evaluate(T0)
    web.evaluate(T0 + 30)
    web.evaluate(T0 + 40, proposing(web.spec, 2))  # metrics back: the streak ends
    assert web.memory.failing_since is None
    web.evaluate(T0 + 50)
    assert web.memory.failing_since == T0 + 50
    assert not web.evaluate(T0 + 94).result.fallback_applied  # 50 s after T0, 44 s of streak
    assert web.evaluate(T0 + 95).result.fallback_applied


def test_hold_reports_itself_after_the_delay_and_never_moves() -> None:
    web = Autoscaler(autoscaler({"policy": "Hold"}), 4, settled(4))
    for offset in (*BACKOFF_RETRIES, 45.0, 300.0):
        plan = web.evaluate(T0 + offset)
        assert (plan.patch, plan.result.desired_replicas) == (False, 4)
    assert plan.result.fallback_applied
    assert condition(plan.result, "FallbackActive")[:2] == (True, "HoldFallback")


def test_a_fallback_up_is_limited_by_the_scale_up_policy() -> None:
    one_pod_a_minute = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    spec = autoscaler({"policy": "Static", "replicas": 6}, behavior=one_pod_a_minute)
    web = Autoscaler(spec, 2, settled(2))
    web.evaluate(T0)
    first = web.evaluate(T0 + 45)
    assert (first.patch, first.result.desired_replicas) == (True, 3)  # 2 + 1 pod per minute
    assert condition(first.result, "ScalingLimited")[:2] == (True, "ScaleUpLimit")
    assert "6 replicas, 3 for now" in condition(first.result, "FallbackActive")[2]
    within_the_minute = web.evaluate(T0 + 60)
    assert (within_the_minute.patch, within_the_minute.result.desired_replicas) == (False, 3)
    assert within_the_minute.result.fallback_applied
    assert "FallbackActivated" not in reasons(within_the_minute.result)
    next_minute = web.evaluate(T0 + 106)
    assert (next_minute.patch, next_minute.result.desired_replicas) == (True, 4)
    assert next_minute.result.decision is not None
    explanation = "\n".join(next_minute.result.decision.explanation)
    assert "metrics API unreachable" in explanation  # the failed metric, then the fallback
    assert "spec.fallback.replicas: proposes 6" in explanation


def test_a_fallback_down_is_held_without_allow_scale_down() -> None:
    web = Autoscaler(autoscaler({"policy": "Static", "replicas": 2}), 6, settled(6))
    for offset in (*BACKOFF_RETRIES, 45.0, 1000.0):
        plan = web.evaluate(T0 + offset)
        assert (plan.patch, plan.result.desired_replicas) == (False, 6)
    assert (plan.result.action, plan.result.fallback_applied) == (Action.HELD, True)
    active = condition(plan.result, "FallbackActive")
    assert active[:2] == (True, "StaticFallback")
    assert "fallback.allowScaleDown is false: holding 6 replicas" in active[2]


def test_an_allowed_fallback_down_waits_for_the_stabilization_window() -> None:
    spec = autoscaler({"policy": "Static", "replicas": 2, "allowScaleDown": True})
    # The last recommendation before the outage, 6, is 10 s old at the first failure.
    web = Autoscaler(spec, 6, settled(6, since=T0 - 10))
    web.evaluate(T0)
    due = web.evaluate(T0 + 45)
    assert due.result.fallback_applied
    assert (due.patch, due.result.desired_replicas) == (False, 6)
    assert condition(due.result, "AbleToScale")[:2] == (True, "ScaleDownStabilized")
    still = web.evaluate(T0 + 289)  # 299 s after the recommendation of 6: still in the window
    assert (still.patch, still.result.desired_replicas) == (False, 6)
    after = web.evaluate(T0 + 291)
    assert (after.patch, after.result.desired_replicas) == (True, 2)


def test_an_allowed_fallback_down_follows_the_behavior_window_and_policy() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 60,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    fallback = {"policy": "Static", "replicas": 2, "allowScaleDown": True}
    web = Autoscaler(autoscaler(fallback, behavior=behavior), 6, settled(6, since=T0 - 10))
    web.evaluate(T0)
    assert web.evaluate(T0 + 45).result.desired_replicas == 6  # 6 was recommended 55 s ago
    first = web.evaluate(T0 + 51)  # 6 is now 61 s old
    assert (first.patch, first.result.desired_replicas) == (True, 5)  # one pod a minute
    assert condition(first.result, "ScalingLimited")[:2] == (True, "ScaleDownLimit")
    assert web.evaluate(T0 + 110).result.desired_replicas == 5
    assert web.evaluate(T0 + 112).result.desired_replicas == 4


def test_the_end_of_the_fallback_is_still_reported_after_a_scale_read_failure() -> None:
    web = Autoscaler(autoscaler({"policy": "Static", "replicas": 4}), 2, settled(2))
    web.evaluate(T0)
    assert "FallbackActivated" in reasons(web.evaluate(T0 + 45).result)
    unreadable = web.scale_unreadable(T0 + 60)
    assert unreadable.result.fallback_applied  # nothing was read: it has not ended
    assert web.memory.failing_since == T0
    assert "FallbackActivated" not in reasons(web.evaluate(T0 + 75).result)
    back = web.evaluate(T0 + 90, proposing(web.spec, 4))
    assert "FallbackDeactivated" in reasons(back.result)
    assert not back.result.fallback_applied and back.result.failing_since is None
    assert condition(back.result, "FallbackActive")[:2] == (False, "MetricsAvailable")
