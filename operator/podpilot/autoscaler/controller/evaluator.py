"""One evaluation of one Autoscaler, as one HPA reconcile: read, then decide, then act.

``read`` gathers the target's scale, its pods and one result per spec metric; the pure
``policy.plan.decide`` turns them into a plan; ``act`` patches ``/scale`` when the plan says
so and records the rescale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
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
    rescale_failed,
    rescaled,
)
from podpilot.autoscaler.sources.base import EvaluationContext
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.scale import Scale, ScaleClient, ScaleError
from podpilot.settings import HpaSettings

from .metric_readers import ObserveRead, evaluate_metric_until, ignore_read

READ_DEADLINE = 30.0
"""Seconds one evaluation may spend reading (scale, then metrics) unless told otherwise."""


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


async def evaluate(
    spec: AutoscalerSpec,
    namespace: str,
    memory: Memory,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead = ignore_read,
    deadline: float = READ_DEADLINE,
) -> EvaluationResult:
    """Evaluate once; patch ``/scale`` unless paused or in DryRun mode.

    Reading stops ``deadline`` seconds after it started: what has not answered by then fails,
    with the HPA's reason, and the plan holds as it does for any failed read.
    """
    observations = await read(spec, namespace, watched, services, now, observe_read, deadline)
    plan = decide(spec, observations, memory, services.hpa.downscale_stabilization)
    return await act(plan, spec, namespace, services)


async def read(
    spec: AutoscalerSpec,
    namespace: str,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead = ignore_read,
    deadline: float = READ_DEADLINE,
) -> Observations:
    """The target's scale (watch, else ``GET /scale``), its pods and every metric, within
    ``deadline`` seconds."""
    target = spec.target
    reference = f"{target.kind}/{target.name}"
    cut_at = asyncio.get_running_loop().time() + deadline
    try:
        async with asyncio.timeout_at(cut_at):
            scale = await services.scale.get(
                namespace,
                target.api_version,
                target.kind,
                target.name,
                watched.scale(namespace, target.api_version, target.kind, target.name),
            )
    except ScaleError as error:
        return Observations(now, reference, scale_failure=ScaleFailure(error.reason, str(error)))
    except TimeoutError:
        message = (
            "the HPA controller was unable to get the target's current scale: no answer "
            f"within the evaluation's deadline of {deadline:g} s ({reference})"
        )
        return Observations(now, reference, scale_failure=ScaleFailure("FailedGetScale", message))
    observed = Observations(now, reference, scale.spec_replicas, scale.selector)
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
        [
            await evaluate_metric_until(metric, context, cut_at, deadline, observe_read)
            for metric in spec.metrics
        ]
    )
    return Observations(now, reference, scale.spec_replicas, scale.selector, metrics=metrics)


async def act(
    plan: Plan, spec: AutoscalerSpec, namespace: str, services: Services
) -> EvaluationResult:
    """Patch ``/scale`` when the plan changes the count; the result says what happened."""
    if not plan.patch:
        return plan.result
    target = spec.target
    try:
        await services.scale.set_replicas(
            namespace, target.api_version, target.kind, target.name, plan.result.desired_replicas
        )
    except ScaleError as error:
        return rescale_failed(plan, str(error))
    return rescaled(plan, spec.behavior)


__all__ = ["Services", "Watched", "act", "evaluate", "read"]
