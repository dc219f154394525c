"""One evaluation of one Autoscaler, as one HPA reconcile: read, then decide, then act.

``read`` gathers the target's scale, its pods and one result per spec metric; the pure
``policy.plan.decide`` turns them into a plan; ``act`` records the rescale it is about to
make (``before_patch``), then patches ``/scale`` on condition that the scale is still the one
the plan was decided from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from podpilot.apimachinery.selectors import SelectorError, parse_selector
from podpilot.autoscaler.api.pods import CachedPod, PodKey, select_pods
from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.spec import AutoscalerSpec
from podpilot.autoscaler.engine import CalculatorSettings, tolerances_for
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    Plan,
    ScaleFailure,
    decide,
    rescale_conflicted,
    rescale_failed,
    rescaled,
    still_holds,
)
from podpilot.autoscaler.sources.base import EvaluationContext
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.scale import Scale, ScaleClient, ScaleConflictError, ScaleError
from podpilot.settings import HpaSettings

from .metric_readers import ObserveRead, evaluate_metric, ignore_read


@dataclass(frozen=True)
class Services:
    """The shared machinery one operator process gives every evaluation."""

    scale: ScaleClient
    sources: MetricSources
    hpa: HpaSettings


BeforePatch = Callable[[Plan], Awaitable[None]]
"""Makes the planned rescale durable before ``/scale`` is patched; raises when it cannot."""


async def nothing_before_patch(plan: Plan) -> None:
    pass


class Watched(Protocol):
    """What the operator's watches keep current, so an evaluation need not ask the apiserver."""

    def pods(self, key: PodKey) -> Collection[CachedPod]:
        """The pods filed under ``key`` (see ``pods.pod_keys``)."""
        ...

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        """The target's scale when its kind is watched and the object is known, else None."""
        ...


async def evaluate(
    spec: AutoscalerSpec,
    namespace: str,
    memory: Memory,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead = ignore_read,
    before_patch: BeforePatch = nothing_before_patch,
) -> EvaluationResult:
    """Evaluate once; patch ``/scale`` unless paused or in DryRun mode."""
    observations = await read(spec, namespace, watched, services, now, observe_read)
    plan = decide(spec, observations, memory, services.hpa.downscale_stabilization)
    return await act(plan, spec, namespace, services, before_patch)


async def read(
    spec: AutoscalerSpec,
    namespace: str,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead = ignore_read,
) -> Observations:
    """The target's scale (watch, else ``GET /scale``), its pods and every metric."""
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
        return Observations(now, reference, scale_failure=ScaleFailure(error.reason, str(error)))
    version = scale.resource_version
    observed = Observations(
        now, reference, scale.spec_replicas, scale.selector, resource_version=version
    )
    try:
        selector = parse_selector(scale.selector)
    except SelectorError as error:
        return Observations(now, reference, scale.spec_replicas, scale.selector, str(error))
    if not scale.selector or (scale.spec_replicas == 0 and spec.min_replicas != 0):
        return observed  # nothing to select, or scaling is disabled: no metric is read
    pods = [cached.info for cached in select_pods(watched.pods, namespace, selector)]
    context = EvaluationContext(
        namespace=namespace,
        now=now,
        period=spec.evaluation_period,
        current_replicas=scale.spec_replicas,
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
    metrics = tuple(
        [await evaluate_metric(metric, context, observe_read) for metric in spec.metrics]
    )
    return Observations(
        now, reference, scale.spec_replicas, scale.selector, metrics=metrics,
        resource_version=version,
    )  # fmt: skip


async def act(
    plan: Plan,
    spec: AutoscalerSpec,
    namespace: str,
    services: Services,
    before_patch: BeforePatch = nothing_before_patch,
) -> EvaluationResult:
    """Patch ``/scale`` when the plan changes the count; the result says what happened.

    The patch is based on the resourceVersion of the scale the plan was decided from. On a
    conflict the scale is read again: when its count and selector are still those the plan
    was decided from, the same patch is sent once more based on that read; otherwise the
    conflict is reported and nothing is written over the other change.
    """
    if not plan.patch:
        return plan.result
    await before_patch(plan)
    try:
        await _patch(plan, spec, namespace, services, plan.resource_version)
    except ScaleConflictError as conflict:
        return await _after_conflict(plan, spec, namespace, services, conflict)
    except ScaleError as error:
        return rescale_failed(plan, str(error))
    return rescaled(plan, spec.behavior)


async def _patch(
    plan: Plan, spec: AutoscalerSpec, namespace: str, services: Services, resource_version: str
) -> None:
    target = spec.target
    await services.scale.set_replicas(
        namespace,
        target.api_version,
        target.kind,
        target.name,
        plan.result.desired_replicas,
        resource_version,
    )


async def _after_conflict(
    plan: Plan,
    spec: AutoscalerSpec,
    namespace: str,
    services: Services,
    conflict: ScaleConflictError,
) -> EvaluationResult:
    target = spec.target
    try:
        fresh = await services.scale.get(namespace, target.api_version, target.kind, target.name)
    except ScaleError as error:
        return rescale_failed(plan, f"{conflict}; reading the scale again failed: {error}")
    if not still_holds(plan, fresh.spec_replicas, fresh.selector):
        return rescale_conflicted(plan, str(conflict), fresh.spec_replicas)
    try:
        await _patch(plan, spec, namespace, services, fresh.resource_version)
    except ScaleConflictError as again:
        return rescale_conflicted(plan, str(again), None)
    except ScaleError as error:
        return rescale_failed(plan, str(error))
    return rescaled(plan, spec.behavior)


__all__ = ["BeforePatch", "Services", "Watched", "act", "evaluate", "nothing_before_patch", "read"]
