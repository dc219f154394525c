"""One evaluation of one Autoscaler, as one HPA reconcile: read, then decide, then act.

``read`` gathers the target's scale, its pods and one result per spec metric; the pure
``policy.plan.decide`` turns them into a plan; ``act`` patches ``/scale`` when the plan says
so and records the rescale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from podpilot.apimachinery.selectors import SelectorError, parse_selector
from podpilot.autoscaler.api.owners import ScaleOwner
from podpilot.autoscaler.api.pods import CachedPod, PodKey, select_pods
from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, Mode
from podpilot.autoscaler.engine import CalculatorSettings, tolerances_for
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    Plan,
    ScaleFailure,
    decide,
    failed_evaluation,
    rescale_failed,
    rescaled,
)
from podpilot.autoscaler.sources.base import EvaluationContext
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.scale import Scale, ScaleClient, ScaleError
from podpilot.settings import HpaSettings

from .errors import error_summary
from .metric_readers import ObserveRead, evaluate_metric_until, ignore_read

READ_DEADLINE = 30.0
"""Seconds one evaluation may spend reading (scale, then metrics) unless told otherwise."""

logger = logging.getLogger("podpilot.autoscaler")


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
    other_owners: tuple[ScaleOwner, ...] = (),
    deadline: float = READ_DEADLINE,
) -> EvaluationResult:
    """Evaluate once; patch ``/scale`` unless paused, in DryRun mode, or ``other_owners``
    (whoever else scales the target) make the target ambiguous.

    Reading stops ``deadline`` seconds after it started: what has not answered by then fails,
    with the HPA's reason, and the plan holds as it does for any failed read. An unexpected
    exception in any step is a failed evaluation (the count is kept, the condition and an
    Event say why), never an evaluation that ends without a word; a failed metric is already a
    failed outcome of its own (``metric_readers``).
    """
    reference = f"{spec.target.kind}/{spec.target.name}"
    try:
        observations = await read(
            spec, namespace, watched, services, now, observe_read, other_owners, deadline
        )
    except Exception as error:
        logger.exception("reading %s in %s failed unexpectedly", reference, namespace)
        return failed_evaluation(now, reference, memory, "read", error_summary(error))
    try:
        plan = decide(spec, observations, memory, services.hpa.downscale_stabilization)
    except Exception as error:
        logger.exception("deciding for %s in %s failed unexpectedly", reference, namespace)
        return failed_evaluation(now, reference, memory, "decide", error_summary(error))
    try:
        return await act(plan, spec, namespace, services)
    except Exception as error:  # after the patch (recording the rescale): report, keep going
        logger.exception("recording the rescale of %s in %s failed", reference, namespace)
        return failed_evaluation(now, reference, memory, "act", error_summary(error))


async def read(
    spec: AutoscalerSpec,
    namespace: str,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead = ignore_read,
    other_owners: tuple[ScaleOwner, ...] = (),
    deadline: float = READ_DEADLINE,
) -> Observations:
    """The target's scale (watch, else ``GET /scale``), its pods and every metric, within
    ``deadline`` seconds; no metric when another autoscaler scales the target (nothing will
    be done with them)."""
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
        failure = ScaleFailure(error.reason, str(error))
        return Observations(now, reference, scale_failure=failure, other_owners=other_owners)
    except TimeoutError:
        message = (
            "the HPA controller was unable to get the target's current scale: no answer "
            f"within the evaluation's deadline of {deadline:g} s ({reference})"
        )
        failure = ScaleFailure("FailedGetScale", message)
        return Observations(now, reference, scale_failure=failure, other_owners=other_owners)
    if other_owners and spec.mode is Mode.ACTIVE:
        return Observations(
            now, reference, scale.spec_replicas, scale.selector, other_owners=other_owners
        )
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
    except Exception as error:
        logger.exception("scaling %s/%s failed unexpectedly", namespace, target.name)
        failed = rescale_failed(plan, error_summary(error))
        return dataclasses.replace(failed, error_stage="act")
    return rescaled(plan, spec.behavior)


__all__ = ["Services", "Watched", "act", "evaluate", "read"]
