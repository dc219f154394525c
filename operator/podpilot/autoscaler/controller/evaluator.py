"""One evaluation of one Autoscaler, as one HPA reconcile: read, then decide, then act.

``read`` gathers the target's scale, its pods and one result per spec metric; the pure
``policy.plan.decide`` turns them into a plan; ``act`` records the rescale it is about to
make (``before_patch``), then patches ``/scale`` on condition that the scale is still the one
the plan was decided from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from podpilot.apimachinery.selectors import SelectorError, parse_selector
from podpilot.autoscaler.api.owners import ScaleOwner
from podpilot.autoscaler.api.pods import CachedPod, PodKey, select_pods
from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, Mode
from podpilot.autoscaler.api.takeover_from import NO_TAKEOVER, TakeoverStep
from podpilot.autoscaler.engine import CalculatorSettings, PodInfo, PodPhase, tolerances_for
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    Plan,
    ScaleFailure,
    decide,
    failed_evaluation,
    metrics_to_read,
    rescale_conflicted,
    rescale_failed,
    rescale_unconfirmed,
    rescaled,
    still_holds,
    with_pending_settled,
)
from podpilot.autoscaler.sources.base import EvaluationContext
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.fencing import MayWrite, always
from podpilot.kube.scale import (
    Scale,
    ScaleClient,
    ScaleConflictError,
    ScaleError,
    ScaleOutcomeUnknownError,
)
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
    other_owners: tuple[ScaleOwner, ...] = (),
    takeover: TakeoverStep = NO_TAKEOVER,
    deadline: float = READ_DEADLINE,
    before_patch: BeforePatch = nothing_before_patch,
    may_write: MayWrite = always,
) -> EvaluationResult:
    """Evaluate once; patch ``/scale`` unless paused, in DryRun mode, ``other_owners``
    (whoever else scales the target) make the target ambiguous, or ``takeover`` (the
    takeover-from annotation's step) holds it.

    Reading stops ``deadline`` seconds after it started: what has not answered by then fails,
    with the HPA's reason, and the plan holds as it does for any failed read. An unexpected
    exception in any step is a failed evaluation (the count is kept, the condition and an
    Event say why), never an evaluation that ends without a word; a failed metric is already a
    failed outcome of its own (``metric_readers``).
    """
    reference = f"{spec.target.kind}/{spec.target.name}"
    # Settled before anything can fail: every result, a failed one too, counts the step.
    memory = with_pending_settled(memory, spec.behavior)
    try:
        observations = await read(
            spec, namespace, watched, services, now, observe_read, other_owners, deadline
        )
    except Exception as error:
        logger.exception("reading %s in %s failed unexpectedly", reference, namespace)
        return failed_evaluation(now, reference, memory, "read", error_summary(error))
    try:
        window = services.hpa.downscale_stabilization
        plan = decide(spec, observations, memory, window, takeover)
    except Exception as error:
        logger.exception("deciding for %s in %s failed unexpectedly", reference, namespace)
        return failed_evaluation(now, reference, memory, "decide", error_summary(error))
    try:
        return await act(plan, spec, namespace, services, before_patch, may_write)
    except Exception as error:
        if plan.patch:
            # The patch may have been sent: the loop keeps the recorded step (pendingRescale)
            # in memory and counts it next time, as a restart would.
            raise
        logger.exception("recording the rescale of %s in %s failed", reference, namespace)
        return failed_evaluation(now, reference, memory, "act", error_summary(error))


async def read(
    spec: AutoscalerSpec,
    namespace: str,
    watched: Watched,
    services: Services,
    now: float,
    observe_read: ObserveRead,
    other_owners: tuple[ScaleOwner, ...],
    deadline: float,
) -> Observations:
    """The target's scale (watch, else ``GET /scale``), its pods and every metric, within
    ``deadline`` seconds; no metric when another autoscaler scales the target (nothing will
    be done with them)."""
    reference = f"{spec.target.kind}/{spec.target.name}"
    cut_at = asyncio.get_running_loop().time() + deadline
    scale = await read_scale(spec, namespace, watched, services.scale, cut_at, deadline)
    if isinstance(scale, ScaleFailure):
        return Observations(now, reference, scale_failure=scale, other_owners=other_owners)
    if other_owners and spec.mode is Mode.ACTIVE:
        return Observations(
            now, reference, scale.spec_replicas, scale.selector, other_owners=other_owners
        )
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
    context = evaluation_context(spec, namespace, now, scale, pods, services)
    metrics = tuple(
        [
            await evaluate_metric_until(metric, context, cut_at, deadline, observe_read)
            for metric in metrics_to_read(spec, scale.spec_replicas)
        ]
    )
    running = sum(1 for pod in pods if pod.phase is PodPhase.RUNNING and not pod.deleted)
    return Observations(
        now, reference, scale.spec_replicas, scale.selector, metrics=metrics,
        resource_version=version, running_pods=running,
    )  # fmt: skip


async def read_scale(
    spec: AutoscalerSpec,
    namespace: str,
    watched: Watched,
    client: ScaleClient,
    cut_at: float,
    deadline: float,
) -> Scale | ScaleFailure:
    """The target's scale, from the watch where it can be trusted, else ``GET /scale``; by
    the loop time ``cut_at`` at the latest."""
    target = spec.target
    try:
        async with asyncio.timeout_at(cut_at):
            return await client.get(
                namespace,
                target.api_version,
                target.kind,
                target.name,
                watched.scale(namespace, target.api_version, target.kind, target.name),
            )
    except ScaleError as error:
        return ScaleFailure(error.reason, str(error))
    except TimeoutError:
        message = (
            "the HPA controller was unable to get the target's current scale: no answer "
            f"within the evaluation's deadline of {deadline:g} s ({target.kind}/{target.name})"
        )
        return ScaleFailure("FailedGetScale", message)


def evaluation_context(
    spec: AutoscalerSpec,
    namespace: str,
    now: float,
    scale: Scale,
    pods: Sequence[PodInfo],
    services: Services,
) -> EvaluationContext:
    """What every metric read of one evaluation is given."""
    return EvaluationContext(
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


async def act(
    plan: Plan,
    spec: AutoscalerSpec,
    namespace: str,
    services: Services,
    before_patch: BeforePatch = nothing_before_patch,
    may_write: MayWrite = always,
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
    patch = partial(_patch, plan, spec, namespace, services, may_write=may_write)
    try:
        await patch(plan.resource_version)
    except ScaleConflictError as conflict:
        return await _after_conflict(plan, spec, namespace, services, conflict, patch)
    except ScaleOutcomeUnknownError as error:
        return rescale_unconfirmed(plan, spec.behavior, str(error))
    except ScaleError as error:
        return rescale_failed(plan, str(error))
    except Exception as error:
        logger.exception("scaling %s/%s failed unexpectedly", namespace, spec.target.name)
        failed = rescale_unconfirmed(plan, spec.behavior, error_summary(error))
        return dataclasses.replace(failed, error_stage="act")
    return rescaled(plan, spec.behavior)


async def _patch(
    plan: Plan,
    spec: AutoscalerSpec,
    namespace: str,
    services: Services,
    resource_version: str,
    *,
    may_write: MayWrite,
) -> None:
    target = spec.target
    await services.scale.set_replicas(
        namespace,
        target.api_version,
        target.kind,
        target.name,
        plan.result.desired_replicas,
        resource_version,
        may_write,
    )


async def _after_conflict(
    plan: Plan,
    spec: AutoscalerSpec,
    namespace: str,
    services: Services,
    conflict: ScaleConflictError,
    patch: Callable[[str], Awaitable[None]],
) -> EvaluationResult:
    target = spec.target
    try:
        fresh = await services.scale.get(namespace, target.api_version, target.kind, target.name)
    except ScaleError as error:
        return rescale_failed(plan, f"{conflict}; reading the scale again failed: {error}")
    if not still_holds(plan, fresh.spec_replicas, fresh.selector):
        return rescale_conflicted(plan, str(conflict), fresh.spec_replicas)
    try:
        await patch(fresh.resource_version)
    except ScaleConflictError as again:
        return rescale_conflicted(plan, str(again), None)
    except ScaleOutcomeUnknownError as error:
        return rescale_unconfirmed(plan, spec.behavior, str(error))
    except ScaleError as error:
        return rescale_failed(plan, str(error))
    return rescaled(plan, spec.behavior)


__all__ = ["BeforePatch", "Services", "Watched", "act", "evaluate", "nothing_before_patch", "read"]
