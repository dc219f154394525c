"""``ScaledToZero``: a zero this Autoscaler set (True) told from one someone else set (False),
through the real ``decide`` and ``rescaled``, across evaluations and a restart."""

from __future__ import annotations

from typing import Any

from podpilot.autoscaler.api.history import PendingRescale
from podpilot.autoscaler.api.result import EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.api.status import render_status
from podpilot.autoscaler.controller.loop import AutoscalerLoop
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    ScaleFailure,
    decide,
    failed_evaluation,
    rescaled,
)

NOW = 50_000.0
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
QUEUE = {
    "type": "External",
    "external": {
        "metric": {"name": "queue"},
        "target": {"type": "Value", "value": "100"},
        "activationThreshold": "5",
    },
}
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


def spec(**fields: Any) -> AutoscalerSpec:
    raw = {"scaleTargetRef": TARGET, "minReplicas": 0, "maxReplicas": 10, "metrics": [QUEUE]}
    return parse_spec({**raw, **fields})


def reading(autoscaler: AutoscalerSpec, replicas: int, value: int) -> MetricResult:
    metric = autoscaler.metrics[0]
    proposal = ReplicaProposal(replicas=replicas, current_value=value, usage_ratio=1.0)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal), value=value)


def observed(current: int, *metrics: MetricResult, now: float = NOW) -> Observations:
    return Observations(now, "Deployment/web", current, "app=web", metrics=metrics)


def zero_condition(result: EvaluationResult) -> tuple[bool, str] | None:
    found = [(c.status, c.reason) for c in result.conditions if c.type == "ScaledToZero"]
    return found[-1] if found else None


def scaled_to_zero_by_the_autoscaler(autoscaler: AutoscalerSpec) -> EvaluationResult:
    """One replica, idle past the cooldown: the Autoscaler patches it to zero."""
    idle = Memory(None, last_active=NOW - 301)
    plan = decide(autoscaler, observed(1, reading(autoscaler, 1, 0)), idle)
    assert (plan.patch, plan.result.desired_replicas) == (True, 0)
    return rescaled(plan, autoscaler.behavior)


def test_its_own_scale_to_zero_is_true_and_stays_true_while_at_zero() -> None:
    autoscaler = spec()
    done = scaled_to_zero_by_the_autoscaler(autoscaler)
    assert zero_condition(done) == (True, "ScaledToZero")
    assert done.zeroed
    later = decide(autoscaler, observed(0, reading(autoscaler, 0, 0)), Memory.after(done))
    assert zero_condition(later.result) == (True, "ScaledToZero")
    assert later.result.zeroed


def test_a_zero_set_by_someone_else_is_false_externally_scaled_to_zero() -> None:
    autoscaler = spec()
    steady = decide(autoscaler, observed(2, reading(autoscaler, 2, 200_000)), Memory(None))
    assert zero_condition(steady.result) == (False, "AboveZero")
    # kubectl scale --replicas=0 between two evaluations.
    found = decide(autoscaler, observed(0, reading(autoscaler, 0, 0)), Memory.after(steady.result))
    assert zero_condition(found.result) == (False, "ExternallyScaledToZero")
    assert not found.result.zeroed


def test_with_min_replicas_above_zero_a_persons_zero_is_reported_beside_scaling_disabled() -> None:
    autoscaler = spec(minReplicas=1, metrics=[CPU])
    plan = decide(autoscaler, observed(0), Memory(None))
    assert zero_condition(plan.result) == (False, "ExternallyScaledToZero")
    reasons = {(c.type, c.reason) for c in plan.result.conditions}
    assert ("ScalingActive", "ScalingDisabled") in reasons
    # A target with replicas and minReplicas above zero has no such condition at all.
    running = decide(autoscaler, observed(3), Memory(None))
    assert zero_condition(running.result) is None


def test_waking_from_its_own_zero_is_scaled_from_zero_and_forgets_the_zero() -> None:
    autoscaler = spec()
    zeroed = Memory.after(scaled_to_zero_by_the_autoscaler(autoscaler))
    plan = decide(autoscaler, observed(0, reading(autoscaler, 1, 10_000)), zeroed)
    assert (plan.patch, plan.result.desired_replicas) == (True, 1)
    woke = rescaled(plan, autoscaler.behavior)
    assert zero_condition(woke) == (False, "ScaledFromZero")
    assert not woke.zeroed
    # Someone scales it back to zero later: that zero is theirs, not the Autoscaler's.
    again = decide(autoscaler, observed(0, reading(autoscaler, 0, 0)), Memory.after(woke))
    assert zero_condition(again.result) == (False, "ExternallyScaledToZero")


def test_dry_run_never_owns_a_zero() -> None:
    autoscaler = spec(mode="DryRun")
    idle = Memory(None, last_active=NOW - 301)
    plan = decide(autoscaler, observed(1, reading(autoscaler, 1, 0)), idle)
    assert not plan.patch  # DryRun never patches, so a later zero is never its own
    later = decide(autoscaler, observed(0, reading(autoscaler, 0, 0)), Memory.after(plan.result))
    assert zero_condition(later.result) == (False, "ExternallyScaledToZero")


def test_a_failed_scale_read_keeps_its_own_zero_and_claims_no_one_elses() -> None:
    autoscaler = spec()
    zeroed = Memory.after(scaled_to_zero_by_the_autoscaler(autoscaler))
    failure = ScaleFailure("FailedGetScale", "the API server did not answer")
    unread = Observations(NOW + 15, "Deployment/web", scale_failure=failure)
    held = decide(autoscaler, unread, zeroed).result
    assert zero_condition(held) == (True, "ScaledToZero") and held.zeroed
    # A fresh Autoscaler knows no count yet (0 by default): no claim about who set a zero.
    fresh = decide(autoscaler, unread, Memory(None)).result
    assert zero_condition(fresh) is None
    broken = failed_evaluation(NOW, "Deployment/web", Memory(None), "decide", "boom")
    assert zero_condition(broken) is None


def test_a_recorded_patch_to_zero_of_a_previous_process_counts_as_its_own() -> None:
    autoscaler = spec()
    pending = PendingRescale(from_replicas=1, to_replicas=0, timestamp=NOW - 10)
    plan = decide(autoscaler, observed(0, reading(autoscaler, 0, 0)), Memory(None, pending=pending))
    assert zero_condition(plan.result) == (True, "ScaledToZero")


def test_a_restart_reads_its_own_zero_back_from_the_condition() -> None:
    autoscaler = spec()
    done = scaled_to_zero_by_the_autoscaler(autoscaler)
    status = render_status(done, autoscaler, {}, generation=1)
    resumed = AutoscalerLoop.resume("team", "web", status, NOW + 60)
    assert resumed.memory.zeroed
    later = decide(autoscaler, observed(0, reading(autoscaler, 0, 0), now=NOW + 60),
                   resumed.memory)  # fmt: skip
    assert zero_condition(later.result) == (True, "ScaledToZero")
    someone_elses = {**status, "conditions": [
        {**c, "status": "False", "reason": "ExternallyScaledToZero"}
        if c["type"] == "ScaledToZero" else c
        for c in status["conditions"]
    ]}  # fmt: skip
    assert not AutoscalerLoop.resume("team", "web", someone_elses, NOW + 60).memory.zeroed


def test_the_step_to_zero_keeps_to_the_scale_down_policy() -> None:
    """One pod a minute: an idle queue takes 2 replicas to 1, and to 0 only a minute after."""
    stepped = spec(
        behavior={
            "scaleDown": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
            }
        }
    )
    idle_since = Memory(None, last_active=NOW - 3600)
    first = decide(stepped, observed(2, reading(stepped, 0, 0)), idle_since)
    assert (first.result.desired_replicas, first.patch) == (1, True)
    after_step = Memory(rescaled(first, stepped.behavior).history, last_active=NOW - 3600)
    soon = decide(stepped, observed(1, reading(stepped, 0, 0), now=NOW + 15), after_step)
    assert (soon.result.desired_replicas, soon.patch) == (1, False)
    later = decide(stepped, observed(1, reading(stepped, 0, 0), now=NOW + 61), after_step)
    assert (later.result.desired_replicas, later.patch) == (0, True)
