"""Shared steps from a metric reading to its proposal and its HPA ``current`` block. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from podpilot.apimachinery.quantities import format_milli
from podpilot.apimachinery.selectors import (
    check_label_selector,
    format_selector,
    selector_from_object,
)
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    PodInfo,
    PodMetric,
    ReplicaProposal,
    Tolerances,
    plain_metric_replicas,
    resource_utilization_replicas,
)

from .spec import MetricSpec

Proposed = tuple[ReplicaProposal, Any, int | None]  # proposal, status "current", total value
BoundEngineCall = Callable[..., ReplicaProposal]  # functools.partial of an engine function


def metric_selector(spec: MetricSpec) -> str:
    """The metric's ``selector`` as the metrics APIs take it (``metricLabelSelector``);
    ``SelectorError`` where the HPA's ``LabelSelectorAsSelector`` refuses it."""
    check_label_selector(spec.metric_selector)
    return format_selector(selector_from_object(spec.metric_selector))


def average_value_current(proposal: ReplicaProposal) -> dict[str, Any]:
    return {"averageValue": format_milli(proposal.current_value)}


def value_or_average_value(
    spec: MetricSpec,
    total: int,
    *,
    current_replicas: int,
    status_replicas: int,
    pods: Sequence[PodInfo],
    tolerances: Tolerances,
    value_replicas: BoundEngineCall,
    average_value_replicas: BoundEngineCall,
) -> Proposed:
    """The Object and External split: an AverageValue target is per pod of the status
    replicas, a Value target is compared with the whole reading. Both engine functions come
    with the reading already bound; the target and the replica counts are added here."""
    if spec.target.type == "AverageValue":
        proposal = average_value_replicas(
            status_replicas=status_replicas,
            target_average_value=spec.target.average_value or 0,
            tolerances=tolerances,
        )
        return proposal, average_value_current(proposal), total
    proposal = value_replicas(
        current_replicas=current_replicas,
        target_value=spec.target.value or 0,
        pods=pods,
        tolerances=tolerances,
    )
    return proposal, {"value": format_milli(proposal.current_value)}, total


def utilization_or_average_value(
    spec: MetricSpec,
    samples: Mapping[str, PodMetric],
    *,
    current_replicas: int,
    pods: Sequence[PodInfo],
    now: float,
    tolerances: Tolerances,
    settings: CalculatorSettings,
) -> Proposed:
    """The Resource and ContainerResource split: a Utilization target is a percentage of the
    pods' requests, an AverageValue target a usage per pod (``samples`` in milli-units)."""
    if spec.target.type == "Utilization" and spec.target.average_utilization is not None:
        proposal = resource_utilization_replicas(
            current_replicas=current_replicas,
            target_utilization=spec.target.average_utilization,
            resource=spec.resource,
            pods=pods,
            metrics=samples,
            now=now,
            tolerances=tolerances,
            container=spec.container,
            settings=settings,
        )
        current = {
            "averageUtilization": proposal.current_utilization,
            "averageValue": format_milli(proposal.current_value),
        }
        return proposal, current, None
    proposal = plain_metric_replicas(
        current_replicas=current_replicas,
        target_usage=spec.target.average_value or 0,
        pods=pods,
        metrics=samples,
        now=now,
        tolerances=tolerances,
        resource=spec.resource,
        settings=settings,
    )
    return proposal, average_value_current(proposal), None


__all__ = [
    "Proposed",
    "average_value_current",
    "metric_selector",
    "utilization_or_average_value",
    "value_or_average_value",
]
