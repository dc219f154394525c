"""Shared steps from a metric reading to its proposal and its HPA ``current`` block. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from podpilot.apimachinery.quantities import format_milli
from podpilot.apimachinery.selectors import format_selector, selector_from_object
from podpilot.autoscaler.engine import PodInfo, ReplicaProposal, Tolerances

from .spec import MetricSpec

Proposed = tuple[ReplicaProposal, Any, int | None]  # proposal, status "current", total value
BoundEngineCall = Callable[..., ReplicaProposal]  # functools.partial of an engine function


def metric_selector(spec: MetricSpec) -> str:
    """The metric's ``selector`` as the metrics APIs take it (``metricLabelSelector``)."""
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


__all__ = [
    "Proposed",
    "average_value_current",
    "metric_selector",
    "value_or_average_value",
]
