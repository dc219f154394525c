"""One spec metric to one engine outcome: its reader (``sources.registry.READERS``) reads it
and proposes; failures become failed outcomes with the HPA's reason."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from podpilot.apimachinery.selectors import SelectorError
from podpilot.autoscaler.api.metric_types import METRIC_TYPES
from podpilot.autoscaler.api.result import MetricResult
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.engine import MetricComputationError, MetricOutcome
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.sources.base import EvaluationContext, MetricSourceError
from podpilot.autoscaler.sources.registry import READERS

from .errors import error_summary

logger = logging.getLogger("podpilot.autoscaler")

# source (the type in lower case), seconds, error kind (None when it succeeded)
ObserveRead = Callable[[str, float, str | None], None]


def ignore_read(source: str, seconds: float, error_kind: str | None) -> None:
    """An ``ObserveRead`` that records nothing."""


async def evaluate_metric(
    spec: MetricSpec, context: EvaluationContext, observe: ObserveRead = ignore_read
) -> MetricResult:
    """Read one metric and compute its proposal; failures become failed outcomes."""
    reader = READERS.get(spec.type)
    if reader is None:
        outcome = MetricOutcome.failed(
            spec.display_name,
            Reason.INVALID_METRIC_SOURCE_TYPE,
            f"metric type {spec.type} is not implemented by this version of podpilot",
        )
        return MetricResult(spec, outcome)
    source = spec.type.lower()
    started = time.perf_counter()
    try:
        proposal, current, value = await reader(spec, context)
    except (MetricSourceError, MetricComputationError, SelectorError) as error:
        kind = error.kind if isinstance(error, MetricSourceError) else "computation"
        observe(source, time.perf_counter() - started, kind)
        outcome = MetricOutcome.failed(
            spec.display_name,
            METRIC_TYPES[spec.type].failure_reason,
            f"failed to get {spec.display_name}: {error}",
        )
        return MetricResult(spec, outcome)
    except Exception as error:
        # Unexpected: a bug or an answer no check foresaw. The metric fails as a source
        # error does (the hold rule applies); the traceback goes to the log only.
        logger.exception("reading %s failed unexpectedly", spec.display_name)
        observe(source, time.perf_counter() - started, "internal")
        outcome = MetricOutcome.failed(
            spec.display_name,
            METRIC_TYPES[spec.type].failure_reason,
            f"failed to get {spec.display_name}: {error_summary(error)}",
        )
        return MetricResult(spec, outcome, internal_error=True)
    observe(source, time.perf_counter() - started, None)
    details = {"usageRatio": f"{proposal.usage_ratio:.4f}"}
    return MetricResult(
        spec,
        MetricOutcome(spec.display_name, proposal),
        current=current,
        details=details,
        value=value,
    )


async def evaluate_metric_until(
    spec: MetricSpec,
    context: EvaluationContext,
    deadline: float,
    budget: float,
    observe: ObserveRead = ignore_read,
) -> MetricResult:
    """``evaluate_metric``, cut at ``deadline`` (event-loop time): a read still unanswered
    then is a failed metric with the type's failure reason, as an unreachable API would be.

    A cancellation that is not this task's own (a shared read whose starter was cancelled)
    fails the metric too, rather than ending the caller's loop.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            return await evaluate_metric(spec, context, observe)
    except TimeoutError:
        message = f"no answer within the evaluation's deadline of {budget:g} s"
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        message = "a shared read was cancelled"
    observe(spec.type.lower(), time.perf_counter() - started, "timeout")
    metric_type = METRIC_TYPES.get(spec.type)
    reason = metric_type.failure_reason if metric_type else Reason.INVALID_METRIC_SOURCE_TYPE
    outcome = MetricOutcome.failed(
        spec.display_name, reason, f"failed to get {spec.display_name}: {message}"
    )
    return MetricResult(spec, outcome)
