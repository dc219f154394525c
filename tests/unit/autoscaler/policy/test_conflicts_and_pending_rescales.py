"""Conditional /scale writes and the rescale recorded before its patch, from values.

A plan remembers the scale it was decided from (count, selector, resourceVersion); after a
409 the same patch may be sent again only when a fresh read still shows that count and
selector. A rescale recorded in status before its patch (``pendingRescale``) and found by a
restarted operator counts as a scale event, so the behavior policy is not exceeded (F8).
"""

from __future__ import annotations

from typing import Any

from podpilot.autoscaler.api.history import PendingRescale, settle_pending
from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.api.status import (
    pending_rescale_from_status,
    pending_rescale_to_status,
    render_status,
)
from podpilot.autoscaler.controller.loop import AutoscalerLoop
from podpilot.autoscaler.engine import (
    MetricOutcome,
    ReplicaProposal,
    ScaleEvent,
    ScalingHistory,
)
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    Plan,
    ScaleFailure,
    decide,
    pending_rescale,
    rescale_conflicted,
    still_holds,
)

NOW = 1_800_000_000.0
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
ONE_POD_PER_MINUTE_DOWN = {
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    }
}


def spec(**fields: Any) -> AutoscalerSpec:
    return parse_spec(
        {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 10, "metrics": [CPU],
         **fields}
    )  # fmt: skip


def proposing(autoscaler: AutoscalerSpec, replicas: int) -> MetricResult:
    metric = autoscaler.metrics[0]
    proposal = ReplicaProposal(replicas=replicas, current_value=10, usage_ratio=0.2)
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal))


def observed(
    now: float, current: int, metric: MetricResult, resource_version: str = "100"
) -> Observations:
    return Observations(
        now, "Deployment/web", current, "app=web", metrics=(metric,),
        resource_version=resource_version,
    )  # fmt: skip


def condition(result: EvaluationResult, kind: str) -> tuple[bool, str] | None:
    found = [(c.status, c.reason) for c in result.conditions if c.type == kind]
    return found[-1] if found else None


# --- the plan remembers what it was decided from ----------------------------------------------


def scale_up_plan() -> Plan:
    autoscaler = spec()
    plan = decide(autoscaler, observed(NOW, 3, proposing(autoscaler, 5), "4711"), Memory(None))
    assert (plan.patch, plan.result.current_replicas, plan.result.desired_replicas) == (True, 3, 5)
    return plan


def test_a_patch_plan_carries_the_scale_it_was_decided_from() -> None:
    plan = scale_up_plan()
    assert (plan.resource_version, plan.selector) == ("4711", "app=web")


def test_after_a_conflict_only_an_unchanged_count_and_selector_let_the_patch_go_again() -> None:
    plan = scale_up_plan()
    assert still_holds(plan, 3, "app=web")  # only e.g. the Deployment's status moved
    assert not still_holds(plan, 2, "app=web")  # someone scaled it: decide again
    assert not still_holds(plan, 5, "app=web")
    assert not still_holds(plan, 3, "app=web,tier=front")  # other pods: decide again


def test_a_conflict_is_reported_as_the_hpa_reports_a_failed_update() -> None:
    plan = scale_up_plan()
    failed = rescale_conflicted(plan, "New size: 5; error: 409 Conflict", replicas_now=2)
    assert (failed.action, failed.rescaled, failed.current_replicas) == (Action.FAILED, False, 3)
    assert condition(failed, "AbleToScale") == (False, "FailedUpdateScale")
    assert failed.events[-1].reason == "FailedRescale"
    assert failed.events[-1].type == "Warning"
    assert failed.events[-1].message == (
        "New size: 5; error: 409 Conflict; the target's replicas changed from 3 to 2 since "
        "they were read: the next evaluation decides again"
    )
    # The scale event is not recorded: nothing was scaled.
    assert failed.history.scale_up_events == plan.result.history.scale_up_events
    again = rescale_conflicted(plan, "New size: 5; error: 409 Conflict", replicas_now=None)
    assert "the target changed since they were read" in again.events[-1].message


def test_the_next_decision_after_a_conflict_rests_on_the_new_count() -> None:
    """Someone scaled 3 -> 8 meanwhile; deciding again from 8 with the same wish of 5 is a
    scale-down that stays within the behavior (one pod per minute)."""
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    plan = decide(autoscaler, observed(NOW, 8, proposing(autoscaler, 5), "4712"), Memory(None))
    assert (plan.result.current_replicas, plan.result.desired_replicas) == (8, 7)
    assert plan.resource_version == "4712"


# --- the rescale recorded before its patch ----------------------------------------------------


def test_the_pending_rescale_is_the_planned_step() -> None:
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    plan = decide(autoscaler, observed(NOW, 4, proposing(autoscaler, 1)), Memory(None))
    assert (plan.patch, plan.result.desired_replicas) == (True, 3)
    assert pending_rescale(plan) == PendingRescale(4, 3, NOW)


def test_a_pending_rescale_is_stored_in_status_and_read_back() -> None:
    pending = PendingRescale(from_replicas=4, to_replicas=3, timestamp=NOW + 0.25)
    stored = pending_rescale_to_status(pending)
    assert stored == {
        "timestamp": "2027-01-15T08:00:00.250000Z",
        "fromReplicas": 4,
        "toReplicas": 3,
    }
    assert pending_rescale_from_status(stored) == pending
    assert pending_rescale_from_status(None) is None


def test_render_status_records_the_pending_rescale_or_removes_it() -> None:
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    plan = decide(autoscaler, observed(NOW, 4, proposing(autoscaler, 1)), Memory(None))
    before_patch = render_status(plan.result, autoscaler, {}, 1, pending_rescale(plan))
    assert before_patch["pendingRescale"]["toReplicas"] == 3
    after_patch = render_status(plan.result, autoscaler, {}, 1)
    assert after_patch["pendingRescale"] is None  # a merge patch with null removes the record


def test_settling_a_pending_rescale_records_its_scale_event() -> None:
    behavior = spec(behavior=ONE_POD_PER_MINUTE_DOWN).behavior
    history = ScalingHistory.seeded(4, NOW)
    settled = settle_pending(history, PendingRescale(4, 3, NOW), behavior)
    assert settled.scale_down_events == (ScaleEvent(1, NOW),)
    assert settled.recommendations == history.recommendations


def status_written_before_the_patch(autoscaler: AutoscalerSpec) -> dict[str, Any]:
    """What reached the apiserver when the operator died right after patching 4 -> 3."""
    plan = decide(autoscaler, observed(NOW, 4, proposing(autoscaler, 1)), Memory(None))
    assert (plan.patch, plan.result.desired_replicas) == (True, 3)
    return render_status(plan.result, autoscaler, {}, 1, pending_rescale(plan))


def test_after_a_crash_between_patch_and_status_write_the_next_step_waits_for_the_policy() -> None:
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    status = status_written_before_the_patch(autoscaler)
    restarted = AutoscalerLoop.resume("team", "web", status, NOW + 5)
    assert restarted.memory.pending == PendingRescale(4, 3, NOW)

    # The patch went through: the target has 3; the load still asks for 1.
    within = decide(autoscaler, observed(NOW + 5, 3, proposing(autoscaler, 1)), restarted.memory)
    assert (within.patch, within.result.desired_replicas) == (False, 3)
    assert condition(within.result, "ScalingLimited") == (True, "ScaleDownLimit")
    assert within.result.history.scale_down_events == (ScaleEvent(1, NOW),)
    # The status written now holds the event in the history, and no record any more.
    rendered = render_status(within.result, autoscaler, {}, 1)
    assert rendered["pendingRescale"] is None
    assert len(rendered["stabilization"]["scaleDownEvents"]) == 1

    # Once the policy period has passed, the next single step is allowed.
    memory = Memory(within.result.history, last_replicas=3)
    later = decide(autoscaler, observed(NOW + 61, 3, proposing(autoscaler, 1)), memory)
    assert (later.patch, later.result.desired_replicas) == (True, 2)


def test_without_the_record_the_restart_would_take_a_second_step_at_once() -> None:
    """The failure the record prevents: the same status minus ``pendingRescale``."""
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    status = dict(status_written_before_the_patch(autoscaler), pendingRescale=None)
    restarted = AutoscalerLoop.resume("team", "web", status, NOW + 5)
    assert restarted.memory.pending is None
    plan = decide(autoscaler, observed(NOW + 5, 3, proposing(autoscaler, 1)), restarted.memory)
    assert (plan.patch, plan.result.desired_replicas) == (True, 2)


def test_a_pending_rescale_is_counted_even_when_the_target_failed_to_read() -> None:
    """Conservatively always: the record is settled into the history whatever is read."""
    autoscaler = spec(behavior=ONE_POD_PER_MINUTE_DOWN)
    status = status_written_before_the_patch(autoscaler)
    restarted = AutoscalerLoop.resume("team", "web", status, NOW + 5)
    gone = Observations(
        NOW + 5, "Deployment/web", scale_failure=ScaleFailure("FailedGetScale", "not found")
    )
    held = decide(autoscaler, gone, restarted.memory)
    assert held.result.history.scale_down_events == (ScaleEvent(1, NOW),)
