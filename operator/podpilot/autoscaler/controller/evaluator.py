"""One evaluation of one Autoscaler, as one HPA reconcile: read, decide, act, explain."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from podpilot.apimachinery.selectors import SelectorError, parse_selector
from podpilot.autoscaler.api import history as history_tools
from podpilot.autoscaler.api.pods import CachedPod, PodKey, select_pods
from podpilot.autoscaler.api.result import (
    Action,
    EvaluationResult,
    Event,
    MetricResult,
    StatusCondition,
)
from podpilot.autoscaler.api.spec import AutoscalerSpec, FallbackPolicy, Mode
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    Decision,
    ScalingHistory,
    decide,
    record_rescale,
    tolerances_for,
)
from podpilot.autoscaler.policy import activation
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.scale import Scale, ScaleClient, ScaleError
from podpilot.settings import HpaSettings

from .metric_readers import EvaluationContext, evaluate_metric


@dataclass(frozen=True)
class Memory:
    """What an Autoscaler carries from one evaluation to the next (persisted in status)."""

    history: ScalingHistory | None
    consecutive_failures: int = 0
    last_replicas: int = 0
    last_active: float | None = None  # minReplicas 0: when a metric was last active


@dataclass(frozen=True)
class Services:
    """The shared machinery one operator process gives every evaluation."""

    scale: ScaleClient
    sources: MetricSources
    hpa: HpaSettings


class Watched(Protocol):
    """What the operator's watches keep current, so an evaluation need not ask the apiserver."""

    def pods(self, key: PodKey) -> Collection[CachedPod]:
        """The pods filed under ``key`` (see ``pods.pod_keys``)."""
        ...

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        """The target's scale when its kind is watched and the object is known, else None."""
        ...


def _held(
    *,
    now: float,
    replicas: int,
    reason: str,
    message: str,
    memory: Memory,
    reference: str,
    conditions: tuple[StatusCondition, ...],
) -> EvaluationResult:
    return EvaluationResult(
        now=now,
        current_replicas=replicas,
        desired_replicas=replicas,
        action=Action.HELD,
        action_message=message,
        conditions=conditions,
        history=memory.history or ScalingHistory(),
        consecutive_failures=memory.consecutive_failures,
        events=(Event("Warning", reason, message),),
        reference=reference,
        last_active=memory.last_active,
    )


async def evaluate(
    spec: AutoscalerSpec,
    namespace: str,
    memory: Memory,
    watched: Watched,
    services: Services,
    now: float,
) -> EvaluationResult:
    """Evaluate once; patch ``/scale`` unless paused or in DryRun mode."""
    target = spec.target
    reference = f"{target.kind}/{target.name}"
    try:
        scale = await services.scale.get(
            namespace,
            target.api_version,
            target.kind,
            target.name,
            watched.scale(namespace, target.api_version, target.kind, target.name),
        )
    except ScaleError as error:
        condition = StatusCondition("AbleToScale", False, error.reason, str(error))
        return _held(
            now=now,
            replicas=memory.last_replicas,
            reason=error.reason,
            message=str(error),
            memory=memory,
            reference=reference,
            conditions=(condition,),
        )
    conditions: list[StatusCondition] = [
        StatusCondition(
            "AbleToScale",
            True,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
    ]
    current = scale.spec_replicas
    history = memory.history or ScalingHistory.seeded(current, now)
    selector_problem = "" if scale.selector else "selector is required"
    try:
        selector = parse_selector(scale.selector)
    except SelectorError as error:
        selector_problem = (
            f"couldn't convert selector into a corresponding internal selector: {error}"
        )
    if selector_problem:
        condition = StatusCondition("ScalingActive", False, "InvalidSelector", selector_problem)
        return _held(
            now=now,
            replicas=current,
            reason="SelectorRequired" if not scale.selector else "InvalidSelector",
            message=selector_problem,
            memory=Memory(history, memory.consecutive_failures, current, memory.last_active),
            reference=reference,
            conditions=(*conditions, condition),
        )

    pods = [cached.info for cached in select_pods(watched.pods, namespace, selector)]
    context = EvaluationContext(
        namespace=namespace,
        now=now,
        period=spec.evaluation_period,
        current_replicas=current,
        status_replicas=scale.status_replicas,
        pod_selector=scale.selector,
        pods=pods,
        tolerances=tolerances_for(spec.behavior, services.hpa.tolerance),
        settings=CalculatorSettings(
            cpu_initialization_period=services.hpa.cpu_initialization_period,
            delay_of_initial_readiness_status=services.hpa.initial_readiness_delay,
        ),
        sources=services.sources,
    )
    scaling_disabled = current == 0 and spec.min_replicas != 0
    metrics: tuple[MetricResult, ...] = ()
    if not scaling_disabled:
        metrics = tuple([await evaluate_metric(metric, context) for metric in spec.metrics])
    decision = decide(
        current_replicas=current,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        metrics=[result.outcome for result in metrics],
        history=history,
        now=now,
        behavior=spec.behavior,
        downscale_stabilization_window=services.hpa.downscale_stabilization,
    )
    conditions += [StatusCondition.from_engine(c) for c in decision.conditions]
    events = _metric_events(metrics)
    every_metric_failed = bool(metrics) and all(r.outcome.proposal is None for r in metrics)
    failures = memory.consecutive_failures + 1 if every_metric_failed else 0
    desired, rescale, reason = decision.desired_replicas, decision.rescale, decision.rescale_reason
    fallback_applied = False
    if every_metric_failed and failures >= spec.fallback.failure_threshold:
        fallback_applied = True
        desired, rescale, reason, condition = _fallback(spec, current, failures)
        conditions.append(condition)
    elif spec.fallback.policy is FallbackPolicy.STATIC or memory.consecutive_failures:
        conditions.append(
            StatusCondition("FallbackActive", False, "MetricsAvailable", "metrics are being read")
        )
    events += _fallback_transitions(spec, memory.consecutive_failures, failures, current, desired)
    last_active = memory.last_active
    if spec.min_replicas == 0 and metrics and not fallback_applied:
        gated = activation.gate(
            current=current,
            engine_desired=desired,
            metrics=[_activity(result) for result in metrics],
            last_active=memory.last_active,
            now=now,
            cooldown=spec.cooldown,
        )
        last_active = gated.last_active
        conditions.append(_active_condition(gated))
        if gated.changed:
            desired, rescale, reason = gated.desired, gated.desired != current, gated.message
    if every_metric_failed:
        first = next(r.outcome.error for r in metrics if r.outcome.error)
        events.append(
            Event(
                "Warning",
                "FailedComputeMetricsReplicas",
                f"invalid metrics ({len(metrics)} invalid out of {len(metrics)}), first error "
                f"is: {first}",
            )
        )

    compacted = history_tools.compact(decision.history)

    def finish(
        action: Action, message: str, history: ScalingHistory, rescaled: bool = False
    ) -> EvaluationResult:
        return EvaluationResult(
            now=now,
            current_replicas=current,
            desired_replicas=desired,
            action=action,
            action_message=message,
            conditions=tuple(conditions),
            history=history,
            metrics=metrics,
            decision=decision,
            rescaled=rescaled,
            consecutive_failures=failures,
            fallback_applied=fallback_applied,
            events=tuple(events),
            reference=reference,
            last_active=last_active,
        )

    if not rescale:
        if every_metric_failed:
            return finish(
                Action.HELD, f"kept {current} replicas: no metric could be read", compacted
            )
        return finish(Action.NO_CHANGE, f"kept {current} replicas", compacted)
    change = f"{current} -> {desired} ({reason})"
    if spec.paused:
        conditions.append(
            StatusCondition("Paused", True, "Paused", f"spec.paused is true; would scale {change}")
        )
        return finish(Action.PAUSED, f"paused: would scale {change}", compacted)
    if spec.mode is Mode.DRY_RUN:
        events.append(
            Event("Normal", "DryRunRescale", f"New size: {desired}; reason: {reason} (dry run)")
        )
        return finish(Action.DRY_RUN, f"dry run: would scale {change}", compacted)
    try:
        await services.scale.set_replicas(
            namespace, target.api_version, target.kind, target.name, desired
        )
    except ScaleError as error:
        conditions.append(StatusCondition("AbleToScale", False, "FailedUpdateScale", str(error)))
        events.append(Event("Warning", "FailedRescale", str(error)))
        return finish(Action.FAILED, f"could not scale {change}: {error}", compacted)
    conditions.append(
        StatusCondition(
            "AbleToScale",
            True,
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
    )
    events.append(Event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}"))
    recorded = record_rescale(
        compacted, spec.behavior, previous_replicas=current, new_replicas=desired, now=now
    )
    return finish(Action.RESCALED, f"scaled {change}", recorded, rescaled=True)


def _fallback(
    spec: AutoscalerSpec, current: int, failures: int
) -> tuple[int, bool, str, StatusCondition]:
    if spec.fallback.policy is FallbackPolicy.STATIC and spec.fallback.replicas is not None:
        target = min(max(spec.fallback.replicas, spec.min_replicas), spec.max_replicas)
        message = f"{failures} evaluations without metrics: static fallback to {target} replicas"
        condition = StatusCondition("FallbackActive", True, "StaticFallback", message)
        return target, target != current, "static fallback: no metric could be read", condition
    message = f"{failures} evaluations without metrics: holding {current} replicas"
    return current, False, "", StatusCondition("FallbackActive", True, "HoldFallback", message)


def _fallback_transitions(
    spec: AutoscalerSpec, before: int, failures: int, current: int, desired: int
) -> list[Event]:
    """An Event when the fallback starts (threshold reached) and when it ends (metrics back)."""
    threshold = spec.fallback.failure_threshold
    if failures >= threshold > before:
        what = (
            f"scaling to {desired} replicas"
            if spec.fallback.policy is FallbackPolicy.STATIC
            else f"holding {current} replicas"
        )
        message = f"no metric could be read in {failures} evaluations: fallback {what}"
        return [Event("Warning", "FallbackActivated", message)]
    if before >= threshold and failures == 0:
        message = f"metrics are readable again after {before} failed evaluations; fallback ended"
        return [Event("Normal", "FallbackDeactivated", message)]
    return []


def _activity(result: MetricResult) -> activation.MetricActivity:
    value = result.value if result.outcome.proposal is not None else None
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


__all__ = ["Decision", "Memory", "Services", "evaluate"]
