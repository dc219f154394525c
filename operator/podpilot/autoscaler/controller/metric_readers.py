"""One spec metric to one engine outcome: read it from its source, then ask the engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from podpilot.apimachinery.quantities import format_milli
from podpilot.apimachinery.selectors import format_selector, selector_from_object
from podpilot.autoscaler.api.result import MetricResult
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    MetricComputationError,
    MetricOutcome,
    PodInfo,
    ReplicaProposal,
    Tolerances,
    external_metric_replicas,
    external_per_pod_metric_replicas,
    object_metric_replicas,
    object_per_pod_metric_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.custom import ObjectQuery, PodsQuery
from podpilot.autoscaler.sources.external import ExternalQuery
from podpilot.autoscaler.sources.prometheus import PrometheusQuery
from podpilot.autoscaler.sources.promql_result import EmptyResult, Reduction
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.autoscaler.sources.resource import ResourceQuery
from podpilot.observability.autoscaler_metrics import observe_metric_read

FAILURE_REASONS = {
    "Resource": Reason.FAILED_GET_RESOURCE_METRIC,
    "ContainerResource": Reason.FAILED_GET_CONTAINER_RESOURCE_METRIC,
    "Pods": Reason.FAILED_GET_PODS_METRIC,
    "Object": Reason.FAILED_GET_OBJECT_METRIC,
    "External": Reason.FAILED_GET_EXTERNAL_METRIC,
    "Prometheus": Reason.FAILED_GET_PROMETHEUS_METRIC,
}


@dataclass(frozen=True)
class EvaluationContext:
    """What every metric of one Autoscaler needs in one evaluation."""

    namespace: str
    now: float
    period: float
    current_replicas: int
    status_replicas: int
    pod_selector: str
    pods: Sequence[PodInfo]
    tolerances: Tolerances
    settings: CalculatorSettings
    sources: MetricSources


Reading = tuple[ReplicaProposal, Any, int | None]  # proposal, status "current", total value
BoundEngineCall = Callable[..., ReplicaProposal]  # functools.partial of an engine function


def _metric_selector(spec: MetricSpec) -> str:
    return format_selector(selector_from_object(spec.metric_selector))


async def _resource(spec: MetricSpec, context: EvaluationContext) -> Reading:
    # A list younger than half the period: shared with the Autoscalers evaluated close by,
    # never the one this Autoscaler's previous evaluation read (periods are fixed-rate).
    readings = await context.sources.resource.read(
        ResourceQuery(context.namespace, spec.resource, spec.container, max_age=context.period / 2)
    )
    # The namespace's readings are shared: look up the selected pods, do not scan them all.
    every = readings.samples
    samples = {pod.name: every[pod.name] for pod in context.pods if pod.name in every}
    if not samples:
        raise MetricSourceError(
            context.sources.resource.api,
            f"unable to get metrics for resource {spec.resource}: no metrics returned from "
            "resource metrics API",
        )
    if spec.target.type == "Utilization" and spec.target.average_utilization is not None:
        proposal = resource_utilization_replicas(
            current_replicas=context.current_replicas,
            target_utilization=spec.target.average_utilization,
            resource=spec.resource,
            pods=context.pods,
            metrics=samples,
            now=context.now,
            tolerances=context.tolerances,
            container=spec.container,
            settings=context.settings,
        )
        current = {
            "averageUtilization": proposal.current_utilization,
            "averageValue": format_milli(proposal.current_value),
        }
        return proposal, current, None
    proposal = plain_metric_replicas(
        current_replicas=context.current_replicas,
        target_usage=spec.target.average_value or 0,
        pods=context.pods,
        metrics=samples,
        now=context.now,
        tolerances=context.tolerances,
        resource=spec.resource,
        settings=context.settings,
    )
    return proposal, {"averageValue": format_milli(proposal.current_value)}, None


async def _pods(spec: MetricSpec, context: EvaluationContext) -> Reading:
    readings = await context.sources.custom.read_pods(
        PodsQuery(context.namespace, context.pod_selector, spec.metric_name, _metric_selector(spec))
    )
    proposal = plain_metric_replicas(
        current_replicas=context.current_replicas,
        target_usage=spec.target.average_value or 0,
        pods=context.pods,
        metrics=readings.samples,
        now=context.now,
        tolerances=context.tolerances,
        settings=context.settings,
    )
    return proposal, {"averageValue": format_milli(proposal.current_value)}, None


async def _object(spec: MetricSpec, context: EvaluationContext) -> Reading:
    described = spec.described_object
    assert described is not None
    reading = await context.sources.custom.read_object(
        ObjectQuery(
            context.namespace,
            described.api_version,
            described.kind,
            described.name,
            spec.metric_name,
            _metric_selector(spec),
        )
    )
    return _value_or_average_value(
        spec,
        context,
        reading.value,
        value_replicas=partial(object_metric_replicas, value=reading.value),
        average_value_replicas=partial(object_per_pod_metric_replicas, value=reading.value),
    )


async def _external(spec: MetricSpec, context: EvaluationContext) -> Reading:
    readings = await context.sources.external.read(
        ExternalQuery(context.namespace, spec.metric_name, _metric_selector(spec))
    )
    return _value_proposal(spec, context, readings.values)


def _value_proposal(
    spec: MetricSpec, context: EvaluationContext, values: tuple[int, ...]
) -> Reading:
    """External-style math (Value or AverageValue) on a list of values the HPA would sum."""
    return _value_or_average_value(
        spec,
        context,
        sum(values),
        value_replicas=partial(external_metric_replicas, values=values),
        average_value_replicas=partial(external_per_pod_metric_replicas, values=values),
    )


def _value_or_average_value(
    spec: MetricSpec,
    context: EvaluationContext,
    total: int,
    value_replicas: BoundEngineCall,
    average_value_replicas: BoundEngineCall,
) -> Reading:
    """The Object and External split: an AverageValue target is per pod of the status
    replicas, a Value target is compared with the whole reading. Both engine functions come
    with the reading already bound; the target and the replica counts are added here."""
    if spec.target.type == "AverageValue":
        proposal = average_value_replicas(
            status_replicas=context.status_replicas,
            target_average_value=spec.target.average_value or 0,
            tolerances=context.tolerances,
        )
        return proposal, {"averageValue": format_milli(proposal.current_value)}, total
    proposal = value_replicas(
        current_replicas=context.current_replicas,
        target_value=spec.target.value or 0,
        pods=context.pods,
        tolerances=context.tolerances,
    )
    return proposal, {"value": format_milli(proposal.current_value)}, total


async def _prometheus(spec: MetricSpec, context: EvaluationContext) -> Reading:
    block = spec.prometheus
    assert block is not None
    reading = await context.sources.prometheus.read(
        PrometheusQuery(
            context.namespace,
            block.server,
            block.query,
            Reduction(block.reduction),
            EmptyResult(block.empty_result),
            max_age=context.period / 2,
        )
    )
    return _value_proposal(spec, context, (reading.milli,))


READERS = {
    "Resource": _resource,
    "ContainerResource": _resource,
    "Pods": _pods,
    "Object": _object,
    "External": _external,
    "Prometheus": _prometheus,
}


async def evaluate_metric(spec: MetricSpec, context: EvaluationContext) -> MetricResult:
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
    except (MetricSourceError, MetricComputationError) as error:
        kind = error.kind if isinstance(error, MetricSourceError) else "computation"
        observe_metric_read(source, time.perf_counter() - started, kind)
        outcome = MetricOutcome.failed(
            spec.display_name,
            FAILURE_REASONS[spec.type],
            f"failed to get {spec.display_name}: {error}",
        )
        return MetricResult(spec, outcome)
    observe_metric_read(source, time.perf_counter() - started, None)
    details = {"usageRatio": f"{proposal.usage_ratio:.4f}"}
    return MetricResult(
        spec,
        MetricOutcome(spec.display_name, proposal),
        current=current,
        details=details,
        value=value,
    )
