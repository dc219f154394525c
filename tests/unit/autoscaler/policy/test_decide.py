"""``decide``: observations, memory and spec in, a plan out; every case from in-memory values.

Expected counts follow the documented semantics (docs/autoscaler.md, docs/prometheus.md):
the HPA never scales down on missing metrics, the fallback once every metric has failed for
``failureThreshold`` evaluation periods (more in test_fallback.py), no ``/scale`` patch while
paused or in DryRun, activation wakes a workload at zero only above the threshold, and it
returns to zero only after the cooldown.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from podpilot.autoscaler.api.limits import LimitReason, limit_reasons
from podpilot.autoscaler.api.owners import ScaleOwner
from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal, ScalingHistory
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    ScaleFailure,
    decide,
    metrics_to_read,
    rescale_failed,
    rescaled,
)

NOW = 50_000.0
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
QUEUE = {
    "type": "External",
    "external": {
        "metric": {"name": "queue"},
        "target": {"type": "Value", "value": "100"},
        "activationThreshold": "5",
    },
}
FRESH = Memory(history=None)


def spec(**fields: Any) -> AutoscalerSpec:
    return parse_spec({"scaleTargetRef": TARGET, "maxReplicas": 10, "metrics": [CPU], **fields})


def proposing(autoscaler: AutoscalerSpec, replicas: int, value: int | None = None) -> MetricResult:
    metric = autoscaler.metrics[0]
    proposal = ReplicaProposal(replicas=replicas, current_value=value or 0, usage_ratio=1.5)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal), value=value)


def failing(autoscaler: AutoscalerSpec) -> MetricResult:
    metric = autoscaler.metrics[0]
    outcome = MetricOutcome.failed(
        metric.display_name, Reason.FAILED_GET_RESOURCE_METRIC, "metrics API unreachable"
    )
    return MetricResult(metric, outcome)


def observed(current: int, *metrics: MetricResult) -> Observations:
    return Observations(NOW, "Deployment/web", current, "app=web", metrics=metrics)


def condition(result: EvaluationResult, kind: str) -> tuple[bool, str] | None:
    found = [(c.status, c.reason) for c in result.conditions if c.type == kind]
    return found[-1] if found else None


def reasons(result: EvaluationResult) -> list[str]:
    return [event.reason for event in result.events]


def test_a_scale_up_within_the_legacy_limit_is_patched_and_recorded() -> None:
    autoscaler = spec()
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 5)), FRESH)
    # Without behavior the HPA allows up to max(2 * 3, 4) = 6 in one step: 5 passes.
    assert (plan.patch, plan.result.desired_replicas, plan.result.action) == (
        True,
        5,
        Action.RESCALED,
    )
    done = rescaled(plan, autoscaler.behavior)
    assert done.rescaled
    assert condition(done, "AbleToScale") == (True, "SucceededRescale")
    assert done.events[-1].reason == "SuccessfulRescale"
    assert done.events[-1].message.startswith("New size: 5; reason: ")


def test_a_scale_up_policy_limits_the_step() -> None:
    behavior = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
        }
    }
    autoscaler = spec(behavior=behavior)
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 8)), FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (True, 5)  # 3 + 2 pods per minute
    assert condition(plan.result, "ScalingLimited") == (True, "ScaleUpLimit")
    history = rescaled(plan, autoscaler.behavior).history
    assert [event.replica_change for event in history.scale_up_events] == [2]


def test_a_failed_patch_reports_failed_rescale_and_keeps_the_count() -> None:
    autoscaler = spec()
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 5)), FRESH)
    failed = rescale_failed(plan, "conflict")
    assert (failed.action, failed.rescaled) == (Action.FAILED, False)
    assert condition(failed, "AbleToScale") == (False, "FailedUpdateScale")
    assert reasons(failed)[-1] == "FailedRescale"


def test_when_every_metric_fails_the_count_is_held_never_lowered() -> None:
    autoscaler = spec()
    # A recent recommendation of 1 would allow a scale-down if anything were read.
    memory = Memory(ScalingHistory.seeded(1, NOW - 600), consecutive_failures=0)
    plan = decide(autoscaler, observed(4, failing(autoscaler)), memory)
    assert (plan.patch, plan.result.desired_replicas, plan.result.action) == (False, 4, Action.HELD)
    assert plan.result.consecutive_failures == 1
    assert not plan.result.fallback_applied
    assert "FailedComputeMetricsReplicas" in reasons(plan.result)
    assert "FailedGetResourceMetric" in reasons(plan.result)


def test_hold_fallback_reports_itself_after_the_threshold_without_moving() -> None:
    autoscaler = spec(fallback={"policy": "Hold", "failureThreshold": 3})
    # Failing since 45 s ago: 3 periods of 15 s.
    plan = decide(
        autoscaler, observed(4, failing(autoscaler)), Memory(None, 2, failing_since=NOW - 45)
    )
    assert (plan.patch, plan.result.desired_replicas) == (False, 4)
    assert condition(plan.result, "FallbackActive") == (True, "HoldFallback")
    assert "FallbackActivated" in reasons(plan.result)


def test_static_fallback_applies_only_from_the_failure_threshold_on() -> None:
    autoscaler = spec(fallback={"policy": "Static", "replicas": 4, "failureThreshold": 3})
    almost = Memory(None, 1, failing_since=NOW - 44)  # 3 periods of 15 s are 45 s
    before = decide(autoscaler, observed(2, failing(autoscaler)), almost)
    assert (before.patch, before.result.desired_replicas) == (False, 2)  # not yet: hold
    assert condition(before.result, "FallbackActive") == (False, "MetricsAvailable")
    due = Memory(None, 2, failing_since=NOW - 45)
    at = decide(autoscaler, observed(2, failing(autoscaler)), due)
    assert (at.patch, at.result.desired_replicas, at.result.consecutive_failures) == (True, 4, 3)
    assert at.result.fallback_applied
    assert condition(at.result, "FallbackActive") == (True, "StaticFallback")
    assert "FallbackActivated" in reasons(at.result)


def test_static_fallback_is_clamped_to_the_bounds() -> None:
    autoscaler = spec(
        minReplicas=3,
        fallback={"policy": "Static", "replicas": 1, "failureThreshold": 1, "allowScaleDown": True},
    )
    # One period of failure, and no recommendation left in the stabilization window.
    memory = Memory(ScalingHistory.seeded(5, NOW - 600), 1, failing_since=NOW - 15)
    plan = decide(autoscaler, observed(5, failing(autoscaler)), memory)
    assert plan.result.desired_replicas == 3


def test_metrics_back_after_a_fallback_end_it() -> None:
    autoscaler = spec(fallback={"policy": "Hold", "failureThreshold": 3})
    was_in_fallback = Memory(None, 5, failing_since=NOW - 100, fallback_active=True)
    plan = decide(autoscaler, observed(4, proposing(autoscaler, 4)), was_in_fallback)
    assert plan.result.consecutive_failures == 0
    assert "FallbackDeactivated" in reasons(plan.result)
    assert condition(plan.result, "FallbackActive") == (False, "MetricsAvailable")


def test_paused_plans_the_change_but_does_not_patch() -> None:
    autoscaler = spec(paused=True)
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 5)), FRESH)
    assert (plan.patch, plan.result.action, plan.result.desired_replicas) == (
        False,
        Action.PAUSED,
        5,
    )
    assert condition(plan.result, "Paused") == (True, "Paused")
    assert "SuccessfulRescale" not in reasons(plan.result)


def test_dry_run_posts_what_it_would_do_and_does_not_patch() -> None:
    autoscaler = spec(mode="DryRun")
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 5)), FRESH)
    assert (plan.patch, plan.result.action) == (False, Action.DRY_RUN)
    assert reasons(plan.result)[-1] == "DryRunRescale"
    assert plan.result.events[-1].message.startswith("New size: 5; reason: ")
    assert plan.result.events[-1].message.endswith("(dry run)")


def test_no_change_needs_no_patch() -> None:
    autoscaler = spec()
    plan = decide(autoscaler, observed(3, proposing(autoscaler, 3)), FRESH)
    assert (plan.patch, plan.result.action) == (False, Action.NO_CHANGE)


def queue_spec() -> AutoscalerSpec:
    return parse_spec(
        {"scaleTargetRef": TARGET, "minReplicas": 0, "maxReplicas": 10, "metrics": [QUEUE]}
    )


def test_a_metric_above_its_activation_threshold_wakes_the_workload_from_zero() -> None:
    autoscaler = queue_spec()
    plan = decide(autoscaler, observed(0, proposing(autoscaler, 1, value=10_000)), FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (True, 1)
    assert condition(plan.result, "Active") == (True, "MetricAboveActivationThreshold")
    assert plan.result.last_active == NOW


def test_at_zero_a_value_not_above_the_threshold_stays_at_zero() -> None:
    autoscaler = queue_spec()
    # The target alone would want 2 replicas; activation wins over the target.
    plan = decide(autoscaler, observed(0, proposing(autoscaler, 2, value=5_000)), FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (False, 0)
    assert condition(plan.result, "Active") == (False, "NoMetricAboveActivationThreshold")


def test_back_to_zero_only_after_the_cooldown() -> None:
    autoscaler = queue_spec()  # cooldownSeconds defaults to 300
    idle = proposing(autoscaler, 1, value=0)
    waiting = decide(autoscaler, observed(1, idle), Memory(None, last_active=NOW - 100))
    assert (waiting.patch, waiting.result.desired_replicas) == (False, 1)
    cooled = decide(autoscaler, observed(1, idle), Memory(None, last_active=NOW - 301))
    assert (cooled.patch, cooled.result.desired_replicas) == (True, 0)


def test_a_failed_metric_never_takes_a_workload_to_zero() -> None:
    autoscaler = queue_spec()
    plan = decide(autoscaler, observed(1, failing(autoscaler)), Memory(None, last_active=0.0))
    assert plan.result.desired_replicas == 1
    assert condition(plan.result, "Active") == (False, "MetricUnavailable")


def test_an_unreadable_scale_holds_the_last_count() -> None:
    failure = ScaleFailure("FailedGetScale", "deployments.apps web not found")
    observations = Observations(NOW, "Deployment/web", scale_failure=failure)
    plan = decide(spec(), observations, Memory(None, last_replicas=4))
    assert (plan.patch, plan.result.action, plan.result.desired_replicas) == (
        False,
        Action.HELD,
        4,
    )
    assert condition(plan.result, "AbleToScale") == (False, "FailedGetScale")
    assert reasons(plan.result) == ["FailedGetScale"]


def test_a_scale_without_a_selector_cannot_scale() -> None:
    observations = Observations(NOW, "Deployment/web", 3, "")
    plan = decide(spec(), observations, FRESH)
    assert (plan.patch, plan.result.action) == (False, Action.HELD)
    assert condition(plan.result, "ScalingActive") == (False, "InvalidSelector")
    assert reasons(plan.result) == ["SelectorRequired"]


# --- the ambiguity guard ----------------------------------------------------------------------

HPA_WEB = ScaleOwner("HorizontalPodAutoscaler", "shop", "web")
SECOND = ScaleOwner("Autoscaler", "shop", "web-2")


def shared(
    current: int, *others: ScaleOwner, metrics: tuple[MetricResult, ...] = ()
) -> Observations:
    return Observations(
        NOW, "Deployment/web", current, "app=web", metrics=metrics, other_owners=others
    )


def test_a_target_another_autoscaler_scales_is_held_and_the_other_named() -> None:
    autoscaler = spec()
    plan = decide(autoscaler, shared(3, HPA_WEB, metrics=(proposing(autoscaler, 6),)), FRESH)
    assert (plan.patch, plan.result.action, plan.result.desired_replicas) == (
        False,
        Action.HELD,
        3,
    )
    assert condition(plan.result, "AbleToScale") == (False, "AmbiguousScaleTarget")
    (able,) = [c for c in plan.result.conditions if c.type == "AbleToScale"]
    assert "HorizontalPodAutoscaler shop/web" in able.message
    assert [(e.type, e.reason) for e in plan.result.events] == [("Warning", "AmbiguousScaleTarget")]
    assert "HorizontalPodAutoscaler shop/web" in plan.result.events[0].message
    assert plan.result.current_replicas == 3
    assert plan.result.history.recommendations  # seeded from the count read, as on any read


def test_the_guard_comes_before_the_reset_to_the_bounds() -> None:
    # Below minReplicas the engine resets at once, without metrics: not while ambiguous.
    plan = decide(spec(minReplicas=5), shared(2, SECOND, HPA_WEB), FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (False, 2)
    assert plan.result.events[0].message.startswith(
        "the target is also scaled by Autoscaler shop/web-2, HorizontalPodAutoscaler shop/web;"
    )


def test_ambiguity_is_reported_even_when_the_scale_cannot_be_read() -> None:
    failure = ScaleFailure("FailedGetScale", "deployments.apps web not found")
    observations = Observations(
        NOW, "Deployment/web", scale_failure=failure, other_owners=(HPA_WEB,)
    )
    plan = decide(spec(), observations, Memory(None, last_replicas=4))
    assert (plan.patch, plan.result.desired_replicas) == (False, 4)
    assert condition(plan.result, "AbleToScale") == (False, "AmbiguousScaleTarget")


def test_paused_autoscalers_are_owners_and_refuse_too() -> None:
    plan = decide(spec(paused=True), shared(3, SECOND), FRESH)
    assert condition(plan.result, "AbleToScale") == (False, "AmbiguousScaleTarget")


def test_dry_run_shadows_another_autoscaler_unhindered() -> None:
    autoscaler = spec(mode="DryRun")
    plan = decide(autoscaler, shared(3, HPA_WEB, metrics=(proposing(autoscaler, 5),)), FRESH)
    assert (plan.patch, plan.result.action, plan.result.desired_replicas) == (
        False,
        Action.DRY_RUN,
        5,
    )
    assert "AmbiguousScaleTarget" not in reasons(plan.result)


# --- F13: nothing to scale ----------------------------------------------------------------------


def test_zero_replicas_with_min_one_is_scaling_disabled_as_the_hpa_says() -> None:
    # The evaluator reads no metric then (see test_ambiguity_guard): the observations are empty.
    plan = decide(spec(minReplicas=1), observed(0), FRESH)
    assert (plan.patch, plan.result.action, plan.result.desired_replicas) == (
        False,
        Action.NO_CHANGE,
        0,
    )
    assert condition(plan.result, "AbleToScale") == (True, "SucceededGetScale")
    assert condition(plan.result, "ScalingActive") == (False, "ScalingDisabled")
    (active,) = [c for c in plan.result.conditions if c.type == "ScalingActive"]
    assert active.message == "scaling is disabled since the replica count of the target is zero"
    assert plan.result.events == ()  # the HPA posts no Event for it either
    assert plan.result.consecutive_failures == 0


def cpu_and_queue_spec() -> AutoscalerSpec:
    return parse_spec(
        {"scaleTargetRef": TARGET, "minReplicas": 0, "maxReplicas": 10, "metrics": [CPU, QUEUE]}
    )


def reading(
    autoscaler: AutoscalerSpec, index: int, replicas: int | None, value: int = 0
) -> MetricResult:
    """Metric ``index`` of the spec proposing ``replicas``, or failed when None."""
    metric = autoscaler.metrics[index]
    if replicas is None:
        failed = MetricOutcome.failed(
            metric.display_name, Reason.FAILED_GET_RESOURCE_METRIC, "no pods to read at zero"
        )
        return MetricResult(metric, failed)
    proposal = ReplicaProposal(replicas=replicas, current_value=value, usage_ratio=1.0)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal), value=value)


def test_at_zero_only_the_metrics_that_can_wake_the_workload_are_read() -> None:
    autoscaler = cpu_and_queue_spec()
    assert metrics_to_read(autoscaler, 0) == (autoscaler.metrics[1],)
    assert metrics_to_read(autoscaler, 1) == autoscaler.metrics


def test_a_cpu_metric_beside_the_queue_neither_wakes_nor_holds_zero_on_its_own() -> None:
    """At zero the cpu metric has no pod to read and is not read: only the queue decides
    (HPAScaleToZero asks for one Object or External metric, not for them alone), and a
    sleeping workload counts no failed metric."""
    autoscaler = cpu_and_queue_spec()
    asleep = observed(0, reading(autoscaler, 1, 0, value=5_000))
    plan = decide(autoscaler, asleep, FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (False, 0)
    assert condition(plan.result, "Active") == (False, "NoMetricAboveActivationThreshold")
    assert (plan.result.events, plan.result.consecutive_failures) == ((), 0)
    assert LimitReason.MISSING_METRICS not in limit_reasons(plan.result)
    woken = observed(0, reading(autoscaler, 1, 2, value=40_000))
    plan = decide(autoscaler, woken, FRESH)
    assert (plan.patch, plan.result.desired_replicas) == (True, 2)
    assert condition(plan.result, "Active") == (True, "MetricAboveActivationThreshold")


def test_a_busy_cpu_keeps_replicas_that_an_idle_queue_would_take_to_zero() -> None:
    autoscaler = cpu_and_queue_spec()
    cooled = Memory(None, last_active=NOW - 301)
    busy = observed(3, reading(autoscaler, 0, 3, value=150), reading(autoscaler, 1, 0))
    plan = decide(autoscaler, busy, cooled)
    assert plan.result.desired_replicas == 3
    idle = observed(1, reading(autoscaler, 0, 1, value=20), reading(autoscaler, 1, 0))
    plan = decide(autoscaler, idle, cooled)
    assert (plan.patch, plan.result.desired_replicas) == (True, 0)


def test_a_failing_cpu_metric_never_lets_an_idle_queue_take_the_workload_to_zero() -> None:
    """metrics-server down above zero: the cpu metric is unknown, so the gate is too, and
    errors never move through zero."""
    autoscaler = cpu_and_queue_spec()
    cooled = Memory(None, last_active=NOW - 301)
    outage = observed(1, reading(autoscaler, 0, None), reading(autoscaler, 1, 0))
    plan = decide(autoscaler, outage, cooled)
    assert (plan.patch, plan.result.desired_replicas) == (False, 1)
    assert condition(plan.result, "Active") == (False, "MetricUnavailable")
    busy_queue = observed(1, reading(autoscaler, 0, None), reading(autoscaler, 1, 4, 40_000))
    plan = decide(autoscaler, busy_queue, cooled)
    assert (plan.patch, plan.result.desired_replicas) == (True, 4)
    assert condition(plan.result, "Active") == (True, "MetricAboveActivationThreshold")


def test_a_woken_workload_whose_pod_never_runs_sleeps_again_after_the_cooldown() -> None:
    """Woken to one replica whose pod stays Pending (no capacity): the cpu metric has no pod
    to measure, so its failure tells the gate nothing, as at zero, and an idle queue takes the
    workload back to zero. With a running pod the same failure holds the replica."""
    autoscaler = cpu_and_queue_spec()
    cooled = Memory(None, last_active=NOW - 301)
    metrics = (reading(autoscaler, 0, None), reading(autoscaler, 1, 0))
    pending = dataclasses.replace(observed(1, *metrics), running_pods=0)
    plan = decide(autoscaler, pending, cooled)
    assert (plan.patch, plan.result.desired_replicas) == (True, 0)
    assert condition(plan.result, "Active") == (False, "NoMetricAboveActivationThreshold")
    running = dataclasses.replace(observed(1, *metrics), running_pods=1)
    plan = decide(autoscaler, running, cooled)
    assert (plan.patch, plan.result.desired_replicas) == (False, 1)
    assert condition(plan.result, "Active") == (False, "MetricUnavailable")
    recent = Memory(None, last_active=NOW - 10)
    plan = decide(autoscaler, pending, recent)
    assert (plan.patch, plan.result.desired_replicas) == (False, 1)
