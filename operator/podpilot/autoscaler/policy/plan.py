"""``decide``: from what one evaluation observed to what it will do. Pure.

An evaluation is read (``controller.evaluator.read``: the scale, the pods, one result per
metric), then decided here, then acted on (``controller.evaluator.act``: patch ``/scale``
when the plan says so). Deciding is the HPA engine's decision with podpilot's additions
around it: a declarative takeover's hold or seed (``api/takeover_from.py``), the ambiguity
guard (another autoscaler scales the target), the fallback, the activation gate of
``minReplicas: 0``, pause and DryRun.

A patch is conditional on the scale it was decided from (its resourceVersion travels in the
plan). When it is refused as a conflict, ``still_holds`` says whether the plan may be sent
once more on a fresh read (only when the count and selector it was decided from are
unchanged: the same step, never a second one) or the conflict is reported
(``rescale_conflicted``) and the next evaluation decides from the new count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from podpilot.autoscaler.api import history as history_tools
from podpilot.autoscaler.api.history import PendingRescale, settle_pending
from podpilot.autoscaler.api.owners import AMBIGUOUS_SCALE_TARGET, ScaleOwner, ambiguity_message
from podpilot.autoscaler.api.result import (
    Action,
    EvaluationResult,
    Event,
    MetricResult,
    StatusCondition,
)
from podpilot.autoscaler.api.spec import AutoscalerSpec, FallbackPolicy, MetricSpec, Mode
from podpilot.autoscaler.api.takeover import TakeoverSeed, seeded_history
from podpilot.autoscaler.api.takeover_from import INVALID_TAKEOVER, NO_TAKEOVER, TakeoverStep
from podpilot.autoscaler.engine import (
    Behavior,
    ConditionType,
    Decision,
    ScalingHistory,
    record_rescale,
)
from podpilot.autoscaler.engine import decide as engine_decide
from podpilot.autoscaler.engine.behavior import (
    calculate_scale_down_limit_with_behaviors,
    generate_scale_down_rules,
)
from podpilot.autoscaler.engine.model import DEFAULT_DOWNSCALE_STABILIZATION_WINDOW

from . import activation, zero
from .fallback import METRICS_AVAILABLE, fallback, fallback_due, fallback_transitions

SCALE_READ = StatusCondition(
    "AbleToScale",
    True,
    "SucceededGetScale",
    "the HPA controller was able to get the target's current scale",
)


@dataclass(frozen=True)
class Memory:
    """What an Autoscaler carries from one evaluation to the next (persisted in status)."""

    history: ScalingHistory | None
    consecutive_failures: int = 0
    last_replicas: int = 0
    last_active: float | None = None  # minReplicas 0: when a metric was last active
    failing_since: float | None = None  # first evaluation of the current failing streak
    fallback_active: bool = False  # the fallback applied at the last evaluation
    pending: PendingRescale | None = None  # a patch a previous process may have applied
    zeroed: bool = False  # the target is at zero by this Autoscaler's own patch

    @classmethod
    def after(cls, result: EvaluationResult) -> Memory:
        """What the next evaluation starts from, once ``result`` is the last one."""
        return cls(
            result.history,
            result.consecutive_failures,
            result.current_replicas,
            result.last_active,
            failing_since=result.failing_since,
            fallback_active=result.fallback_applied,
            zeroed=result.zeroed,
        )


@dataclass(frozen=True)
class ScaleFailure:
    """``GET /scale`` failed: the HPA reason and the error."""

    reason: str
    message: str


@dataclass(frozen=True)
class Observations:
    """What one evaluation read: the target's scale and one result per spec metric.

    ``metrics`` is empty when nothing was read: the scale failed, its selector is unusable,
    scaling is disabled (zero replicas while ``minReplicas`` is not 0), or another autoscaler
    scales the target (``other_owners``, only ever filled for an Active Autoscaler). At zero
    replicas it holds only the metrics that can wake the workload (``metrics_to_read``).
    """

    now: float
    reference: str  # Kind/name of the target
    current_replicas: int = 0
    selector: str = ""  # the scale's ``status.selector``
    selector_error: str | None = None  # why that selector does not parse
    metrics: tuple[MetricResult, ...] = ()
    scale_failure: ScaleFailure | None = None
    other_owners: tuple[ScaleOwner, ...] = ()
    resource_version: str = ""  # of the scale read: a patch is conditional on it
    # Selected pods that are running and not being deleted; None when they were not counted.
    running_pods: int | None = None


def metrics_to_read(spec: AutoscalerSpec, current_replicas: int) -> tuple[MetricSpec, ...]:
    """The spec's metrics an evaluation reads at ``current_replicas``. At zero, only those
    that can wake the workload (Object, External, Prometheus): a per-pod metric has no pod
    to read there, and reading it anyway would count an error on every sleeping workload."""
    if current_replicas > 0:
        return spec.metrics
    return tuple(metric for metric in spec.metrics if metric.wakes)


@dataclass(frozen=True)
class Plan:
    """What to report, and whether ``/scale`` must first be patched to its desired count."""

    result: EvaluationResult
    patch: bool = False
    reason: str = ""  # why the count changes, as the rescale Event words it
    selector: str = ""  # of the scale the patch was decided from
    resource_version: str = ""  # of that scale: the patch is conditional on it


def with_pending_settled(memory: Memory, behavior: Behavior | None) -> Memory:
    """``memory`` with the patch a previous evaluation or process recorded (``pending``)
    counted in the history as a step taken, whatever became of it (``settle_pending``)."""
    if memory.pending is None:
        return memory
    settled = settle_pending(memory.history, memory.pending, behavior)
    # A patch to zero a previous process recorded made the zero this Autoscaler's own.
    zeroed = memory.zeroed or memory.pending.to_replicas == 0
    return dataclasses.replace(memory, history=settled, pending=None, zeroed=zeroed)


def decide(
    spec: AutoscalerSpec,
    observations: Observations,
    memory: Memory,
    downscale_stabilization_window: float = DEFAULT_DOWNSCALE_STABILIZATION_WINDOW,
    takeover: TakeoverStep = NO_TAKEOVER,
) -> Plan:
    """The plan for one evaluation; nothing here reads or writes anything.

    ``takeover``: what the ``podpilot.io/takeover-from`` annotation asks of this evaluation
    (``api/takeover_from.takeover_step``): a hold, or a seed folded into the history once the
    target's count is read, before anything is decided from it.
    """
    now = observations.now
    memory = with_pending_settled(memory, spec.behavior)
    if takeover.refusal is not None:
        return Plan(_refused(observations, memory, INVALID_TAKEOVER, takeover.refusal))
    due = takeover.seed
    if due is None or observations.scale_failure is not None:
        return _decide(spec, observations, memory, downscale_stabilization_window)
    current = observations.current_replicas
    seed = due.seed(current, now)
    history = history_tools.compact(seeded_history(memory.history, seed, now) or ScalingHistory())
    plan = _decide(
        spec, observations, dataclasses.replace(memory, history=history),
        downscale_stabilization_window,
    )  # fmt: skip
    event = due.event(seed, current)
    return _with_seed(plan, seed, () if event is None else (event,))


def _with_seed(plan: Plan, seed: TakeoverSeed, events: tuple[Event, ...]) -> Plan:
    result = dataclasses.replace(
        plan.result, takeover_seed=seed, events=(*plan.result.events, *events)
    )
    return dataclasses.replace(plan, result=result)


def _decide(
    spec: AutoscalerSpec, observations: Observations, memory: Memory, window: float
) -> Plan:
    now, reference = observations.now, observations.reference
    if observations.other_owners and spec.mode is Mode.ACTIVE:  # shadowing is DryRun's job
        message = ambiguity_message(observations.other_owners)
        return Plan(_refused(observations, memory, AMBIGUOUS_SCALE_TARGET, message))
    failure = observations.scale_failure
    if failure is not None:
        condition = StatusCondition("AbleToScale", False, failure.reason, failure.message)
        held = _held(
            now,
            memory.last_replicas,
            failure.reason,
            failure.message,
            memory,
            reference,
            (condition,),
        )
        return Plan(held)
    current = observations.current_replicas
    memory = dataclasses.replace(
        memory,
        history=memory.history or ScalingHistory.seeded(current, now),
        last_replicas=current,
    )
    problem = selector_problem(observations)
    if problem:
        reason = "SelectorRequired" if not observations.selector else "InvalidSelector"
        condition = StatusCondition("ScalingActive", False, "InvalidSelector", problem)
        return Plan(
            _held(
                now,
                current,
                reason,
                problem,
                memory,
                reference,
                (SCALE_READ, condition),
                count_read=True,
            )
        )
    return _decide_on_metrics(spec, observations, memory, window)


def _refused(
    observations: Observations, memory: Memory, reason: str, message: str
) -> EvaluationResult:
    """Another autoscaler scales the target (``AmbiguousScaleTarget``, naming it), or the
    takeover asked for cannot be made (``InvalidTakeover``): hold, never patch. Both come
    before everything that could patch (the immediate reset to min/max included); the count
    reported is the one read, or the last known when ``/scale`` could not be read."""
    condition = StatusCondition("AbleToScale", False, reason, message)
    replicas = memory.last_replicas
    if observations.scale_failure is None:
        replicas = observations.current_replicas
        memory = dataclasses.replace(
            memory,
            history=memory.history or ScalingHistory.seeded(replicas, observations.now),
            last_replicas=replicas,
        )
    return _held(
        observations.now,
        replicas,
        reason,
        message,
        memory,
        observations.reference,
        (condition,),
        count_read=observations.scale_failure is None,
    )


def selector_problem(observations: Observations) -> str:
    """Why the scale's selector cannot select pods, or "" when it can."""
    if observations.selector_error is not None:
        return (
            "couldn't convert selector into a corresponding internal selector: "
            f"{observations.selector_error}"
        )
    return "" if observations.selector else "selector is required"


def _scale_down_floor(
    spec: AutoscalerSpec, current: int, history: ScalingHistory, now: float
) -> int:
    """The fewest replicas ``spec.behavior``'s scale-down policies allow now; without
    ``behavior`` the HPA limits no scale-down step (only its stabilization window does)."""
    if spec.behavior is None:
        return 0
    return calculate_scale_down_limit_with_behaviors(
        current,
        history.scale_up_events,
        history.scale_down_events,
        generate_scale_down_rules(spec.behavior.scale_down),
        now=now,
    )


def _decide_on_metrics(
    spec: AutoscalerSpec, observations: Observations, memory: Memory, window: float
) -> Plan:
    now, current, metrics = observations.now, observations.current_replicas, observations.metrics
    assert memory.history is not None
    decision = engine_decide(
        current_replicas=current,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        metrics=[result.outcome for result in metrics],
        history=memory.history,
        now=now,
        behavior=spec.behavior,
        downscale_stabilization_window=window,
    )
    conditions = [SCALE_READ, *(StatusCondition.from_engine(c) for c in decision.conditions)]
    events = _metric_events(metrics)
    every_metric_failed = bool(metrics) and all(r.outcome.proposal is None for r in metrics)
    failures = memory.consecutive_failures + 1 if every_metric_failed else 0
    failing_since = (
        (memory.failing_since if memory.failing_since is not None else now)
        if every_metric_failed
        else None
    )
    desired, rescale, reason = decision.desired_replicas, decision.rescale, decision.rescale_reason
    fallback_applied = every_metric_failed and fallback_due(spec, failing_since, now)
    if fallback_applied:
        assert failing_since is not None
        chosen = fallback(
            spec,
            current=current,
            history=memory.history,
            now=now,
            failing_since=failing_since,
            failures=failures,
            downscale_stabilization_window=window,
        )
        if chosen.decision is not None:
            # The metrics still failed: keep their ScalingActive, take the rest from the
            # engine's decision on the fallback count.
            conditions += [
                StatusCondition.from_engine(c)
                for c in chosen.decision.conditions
                if c.type is not ConditionType.SCALING_ACTIVE
            ]
            decision = _after_metrics(decision, chosen.decision)
            desired, rescale = decision.desired_replicas, decision.rescale
            reason = chosen.reason if rescale else ""
        conditions.append(chosen.condition)
    elif spec.fallback.policy is FallbackPolicy.STATIC or memory.consecutive_failures:
        conditions.append(METRICS_AVAILABLE)
    events += fallback_transitions(
        was_active=memory.fallback_active,
        active=fallback_applied,
        failures_before=memory.consecutive_failures,
        failures=failures,
        current=current,
        desired=desired,
    )
    last_active = memory.last_active
    if spec.min_replicas == 0 and _any_activating(metrics) and not fallback_applied:
        gated = activation.gate(
            current=current,
            engine_desired=desired,
            metrics=_gate_inputs(metrics, pods_to_measure=observations.running_pods != 0),
            last_active=memory.last_active,
            now=now,
            cooldown=spec.cooldown,
            policy_floor=_scale_down_floor(spec, current, memory.history, now),
        )
        last_active = gated.last_active
        conditions.append(_active_condition(gated))
        if gated.changed:
            desired, rescale, reason = gated.desired, gated.desired != current, gated.message
    if every_metric_failed:
        events.append(_failed_compute_event(metrics))
    zeroed = memory.zeroed and current == 0
    if (at_zero := zero.condition(current, zeroed, spec.min_replicas)) is not None:
        conditions.append(at_zero)
    result = EvaluationResult(
        now=now,
        current_replicas=current,
        desired_replicas=desired,
        action=Action.NO_CHANGE,
        action_message=f"kept {current} replicas",
        conditions=tuple(conditions),
        history=history_tools.compact(decision.history),
        metrics=metrics,
        decision=decision,
        consecutive_failures=failures,
        failing_since=failing_since,
        fallback_applied=fallback_applied,
        events=tuple(events),
        reference=observations.reference,
        last_active=last_active,
        zeroed=zeroed,
    )
    if not rescale:
        if every_metric_failed:
            message = f"kept {current} replicas: no metric could be read"
            return Plan(dataclasses.replace(result, action=Action.HELD, action_message=message))
        return Plan(result)
    return _rescale(spec, result, reason, observations)


def _rescale(
    spec: AutoscalerSpec, result: EvaluationResult, reason: str, observations: Observations
) -> Plan:
    """A change of count: only planned while paused or in DryRun, else patched."""
    change = f"{result.current_replicas} -> {result.desired_replicas} ({reason})"
    if spec.paused:
        paused = StatusCondition(
            "Paused", True, "Paused", f"spec.paused is true; would scale {change}"
        )
        return Plan(
            dataclasses.replace(
                result,
                action=Action.PAUSED,
                action_message=f"paused: would scale {change}",
                conditions=(*result.conditions, paused),
            )
        )
    if spec.mode is Mode.DRY_RUN:
        message = f"New size: {result.desired_replicas}; reason: {reason} (dry run)"
        return Plan(
            dataclasses.replace(
                result,
                action=Action.DRY_RUN,
                action_message=f"dry run: would scale {change}",
                events=(*result.events, Event("Normal", "DryRunRescale", message)),
            )
        )
    planned = dataclasses.replace(result, action=Action.RESCALED, action_message=f"scaled {change}")
    return Plan(
        planned,
        patch=True,
        reason=reason,
        selector=observations.selector,
        resource_version=observations.resource_version,
    )


def pending_rescale(plan: Plan) -> PendingRescale:
    """The record of the patch ``plan`` is about to send, written to status first."""
    result = plan.result
    return PendingRescale(result.current_replicas, result.desired_replicas, result.now)


def still_holds(plan: Plan, replicas: int, selector: str) -> bool:
    """After a conflict: whether a fresh read of the scale still shows the count and
    selector the plan was decided from (something else changed, such as the workload's
    status), so the same patch may be sent once more, based on that read."""
    return replicas == plan.result.current_replicas and selector == plan.selector


def rescaled(plan: Plan, behavior: Behavior | None) -> EvaluationResult:
    """The result once ``/scale`` took the planned count: the rescale is in the history."""
    result = plan.result
    desired = result.desired_replicas
    condition = StatusCondition(
        "AbleToScale",
        True,
        "SucceededRescale",
        f"the HPA controller was able to update the target scale to {desired}",
    )
    event = Event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {plan.reason}")
    conditions = (*result.conditions, condition)
    if (zero_now := zero.after_rescale(result.current_replicas, desired)) is not None:
        conditions = (*conditions, zero_now)
    history = record_rescale(
        result.history,
        behavior,
        previous_replicas=result.current_replicas,
        new_replicas=desired,
        now=result.now,
    )
    return dataclasses.replace(
        result,
        conditions=conditions,
        events=(*result.events, event),
        history=history,
        rescaled=True,
        zeroed=desired == 0,
    )


def rescale_failed(plan: Plan, error: str) -> EvaluationResult:
    """The result when patching ``/scale`` failed: nothing changed, the error is reported."""
    result = plan.result
    change = f"{result.current_replicas} -> {result.desired_replicas} ({plan.reason})"
    return dataclasses.replace(
        result,
        action=Action.FAILED,
        action_message=f"could not scale {change}: {error}",
        conditions=(
            *result.conditions,
            StatusCondition("AbleToScale", False, "FailedUpdateScale", error),
        ),
        events=(*result.events, Event("Warning", "FailedRescale", error)),
    )


def rescale_unconfirmed(plan: Plan, behavior: Behavior | None, error: str) -> EvaluationResult:
    """The result when the patch got no answer, or a server error: reported as failed, and
    yet counted in the history as a step taken, since it may have been applied. The next step
    in that direction waits for its policy period, as after a restart (``settle_pending``)."""
    failed = rescale_failed(plan, error)
    history = settle_pending(failed.history, pending_rescale(plan), behavior)
    zeroed = failed.zeroed or plan.result.desired_replicas == 0
    return dataclasses.replace(failed, history=history, zeroed=zeroed)


INTERNAL_ERROR = "InternalError"
_STAGE_WORDS = {"read": "reading the target", "decide": "deciding", "act": "scaling"}


def failed_evaluation(
    now: float, reference: str, memory: Memory, stage: str, error: str
) -> EvaluationResult:
    """An evaluation an unexpected error ended at ``stage`` (read, decide): nothing is
    decided, the replica count and the memory are kept (the hold rule), and the condition
    and a Warning Event say why."""
    message = f"the evaluation failed while {_STAGE_WORDS.get(stage, stage)}: {error}"
    condition = StatusCondition("ScalingActive", False, INTERNAL_ERROR, message)
    held = _held(
        now, memory.last_replicas, INTERNAL_ERROR, message, memory, reference, (condition,)
    )
    return dataclasses.replace(
        held, action=Action.FAILED, action_message=message, error_stage=stage
    )


def rescale_conflicted(plan: Plan, error: str, replicas_now: int | None) -> EvaluationResult:
    """The result when ``/scale`` changed since it was read: nothing is written over the
    change; the next evaluation decides again from the count it finds then."""
    result = plan.result
    changed = (
        f"the target's replicas changed from {result.current_replicas} to {replicas_now}"
        if replicas_now is not None and replicas_now != result.current_replicas
        else "the target changed"
    )
    return rescale_failed(
        plan, f"{error}; {changed} since they were read: the next evaluation decides again"
    )


def _held(
    now: float,
    replicas: int,
    reason: str,
    message: str,
    memory: Memory,
    reference: str,
    conditions: tuple[StatusCondition, ...],
    *,
    count_read: bool = False,
) -> EvaluationResult:
    """Nothing could be decided: keep ``replicas`` and the memory, report why.

    ``count_read``: ``replicas`` was read this evaluation. Otherwise it is the last known
    count (0 before any read, and the count before the patch after a rescale), which tells
    nobody's zero; this Autoscaler's own zero is still remembered."""
    if count_read:
        zeroed = memory.zeroed and replicas == 0
        if (at_zero := zero.condition(replicas, zeroed, None)) is not None:
            conditions = (*conditions, at_zero)
    else:
        # Unread, the zero this Autoscaler set is the last thing known of the target.
        zeroed = memory.zeroed
        if zeroed:
            conditions = (*conditions, zero.at_zero(True))
    return EvaluationResult(
        now=now,
        current_replicas=replicas,
        desired_replicas=replicas,
        action=Action.HELD,
        action_message=message,
        conditions=conditions,
        history=memory.history or ScalingHistory(),
        consecutive_failures=memory.consecutive_failures,
        failing_since=memory.failing_since,
        # Nothing was read, so the fallback neither starts nor ends here.
        fallback_applied=memory.fallback_active,
        events=(Event("Warning", reason, message),),
        reference=reference,
        last_active=memory.last_active,
        zeroed=zeroed,
    )


def _after_metrics(metrics_decision: Decision, fallback_decision: Decision) -> Decision:
    """The fallback's decision, explained after the failed metrics' own explanation."""
    return dataclasses.replace(
        fallback_decision,
        explanation=(
            *metrics_decision.explanation[:-1],  # all but its "result: keep" line
            *fallback_decision.explanation[1:],  # all but the repeated "current replicas" line
        ),
    )


def _failed_compute_event(metrics: Sequence[MetricResult]) -> Event:
    first = next(r.outcome.error for r in metrics if r.outcome.error)
    return Event(
        "Warning",
        "FailedComputeMetricsReplicas",
        f"invalid metrics ({len(metrics)} invalid out of {len(metrics)}), first error is: {first}",
    )


def _any_activating(metrics: Sequence[MetricResult]) -> bool:
    return any(result.spec.wakes for result in metrics)


def _gate_inputs(
    metrics: Sequence[MetricResult], *, pods_to_measure: bool
) -> list[activation.MetricActivity]:
    told = (_activity(result, pods_to_measure) for result in metrics)
    return [activity for activity in told if activity is not None]


def _activity(result: MetricResult, pods_to_measure: bool) -> activation.MetricActivity | None:
    """What one metric tells the activation gate. An Object, External or Prometheus metric:
    its value against its threshold. A per-pod metric takes no threshold and is only read
    above zero: it tells the gate nothing while it is read, and "unknown" when it failed, so
    that a failing per-pod metric never lets an idle queue take the workload to zero. When no
    selected pod runs (all Pending, say, for want of capacity) there is nothing to measure:
    its failure tells the gate nothing either, as at zero, so such a workload can sleep."""
    failed = result.outcome.proposal is None
    if not result.spec.wakes:
        return activation.MetricActivity(None) if failed and pods_to_measure else None
    value = None if failed else result.value
    return activation.MetricActivity(value, result.spec.activation_threshold or 0)


def _active_condition(gated: activation.GateResult) -> StatusCondition:
    if gated.activity is activation.Activity.ACTIVE:
        return StatusCondition("Active", True, "MetricAboveActivationThreshold", gated.message)
    if gated.activity is activation.Activity.INACTIVE:
        return StatusCondition("Active", False, "NoMetricAboveActivationThreshold", gated.message)
    return StatusCondition("Active", False, "MetricUnavailable", gated.message)


def _metric_events(metrics: Sequence[MetricResult]) -> list[Event]:
    return [
        Event("Warning", str(result.outcome.failure_reason), result.outcome.error or "")
        for result in metrics
        if result.outcome.failure_reason is not None
    ]


__all__ = [
    "Memory",
    "Observations",
    "Plan",
    "ScaleFailure",
    "decide",
    "failed_evaluation",
    "metrics_to_read",
    "pending_rescale",
    "rescale_conflicted",
    "rescale_failed",
    "rescale_unconfirmed",
    "rescaled",
    "selector_problem",
    "still_holds",
    "with_pending_settled",
]
