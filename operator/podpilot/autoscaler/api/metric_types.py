"""The metric types of ``spec.metrics``: what each is called, where its block is, how its
status is shaped. Pure; the source that reads each type is in ``sources.registry``.

A new type is one ``MetricType`` here (its words, status shape and how a backtest replays it)
and one line in ``sources.registry`` (its source and reader); the registry's docstring lists
the rest.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podpilot.autoscaler.engine.conditions import Reason

if TYPE_CHECKING:
    from .spec import MetricSpec

UTILIZATION_SUFFIX = " utilization (percentage of request)"


class History(enum.Enum):
    """Where a backtest finds a metric's past values."""

    POD_USAGE = "pod usage"  # the pods' usage and requests series, replayed per pod
    QUERY = "query"  # the metric's own PromQL query, over the replayed range


@dataclass(frozen=True)
class MetricType:
    """One value of ``spec.metrics[].type``."""

    name: str  # as in the spec: Resource, Pods, ...
    block: str  # the block that carries its source: resource, pods, ...
    failure_reason: Reason  # the HPA's reason when it cannot be read
    display_name: Callable[[MetricSpec], str]  # as the HPA words it in events and conditions
    status_block: Callable[[MetricSpec], dict[str, Any] | None]  # MetricStatus, minus current
    label: Callable[[MetricSpec], str] = lambda s: s.metric_name or s.type  # Targets column
    names_a_resource: bool = False  # a cpu/memory metric (Resource, ContainerResource)
    average_suffix: str = " (avg)"  # after an AverageValue in the Targets column
    # Takes an activationThreshold and decides whether a workload at zero wakes or one above
    # goes to zero; a per-pod metric (Resource, ContainerResource, Pods) has no pod to read
    # at zero and only shapes the count above it.
    activates: bool = False
    history: History | None = None  # how a backtest replays it; None: it cannot


def _identifier(spec: MetricSpec) -> dict[str, Any]:
    identifier: dict[str, Any] = {"name": spec.metric_name}
    if spec.metric_selector:
        identifier["selector"] = dict(spec.metric_selector)
    return identifier


def _utilization(spec: MetricSpec) -> str:
    return UTILIZATION_SUFFIX if spec.target.type == "Utilization" else ""


def _described(spec: MetricSpec) -> dict[str, Any] | None:
    described = spec.described_object
    if described is None:
        return None
    return {
        "describedObject": {
            "apiVersion": described.api_version,
            "kind": described.kind,
            "name": described.name,
        },
        "metric": _identifier(spec),
    }


def _object_name(spec: MetricSpec) -> str:
    described = spec.described_object
    if described is None:
        return f"object metric {spec.metric_name}"
    return f"{described.kind} metric {spec.metric_name}"


def _prometheus_name(spec: MetricSpec) -> str:
    if spec.prometheus is None:
        return f"prometheus metric {spec.metric_name}"
    return f"prometheus metric on server {spec.prometheus.server}"


def _prometheus_block(spec: MetricSpec) -> dict[str, Any] | None:
    return None if spec.prometheus is None else {"serverRef": {"name": spec.prometheus.server}}


METRIC_TYPES: Mapping[str, MetricType] = {
    kind.name: kind
    for kind in (
        MetricType(
            "Resource",
            "resource",
            Reason.FAILED_GET_RESOURCE_METRIC,
            lambda s: f"{s.resource} resource{_utilization(s)}",
            lambda s: {"name": s.resource},
            label=lambda s: s.resource,
            names_a_resource=True,
            history=History.POD_USAGE,
        ),
        MetricType(
            "ContainerResource",
            "containerResource",
            Reason.FAILED_GET_CONTAINER_RESOURCE_METRIC,
            lambda s: f"{s.resource} container resource{_utilization(s)}",
            lambda s: {"name": s.resource, "container": s.container},
            label=lambda s: f"{s.container}/{s.resource}",
            names_a_resource=True,
            history=History.POD_USAGE,
        ),
        MetricType(
            "Pods",
            "pods",
            Reason.FAILED_GET_PODS_METRIC,
            lambda s: f"pods metric {s.metric_name}",
            lambda s: {"metric": _identifier(s)},
            average_suffix="",
        ),
        MetricType(
            "Object",
            "object",
            Reason.FAILED_GET_OBJECT_METRIC,
            _object_name,
            _described,
            activates=True,
        ),
        MetricType(
            "External",
            "external",
            Reason.FAILED_GET_EXTERNAL_METRIC,
            lambda s: f"external metric {s.metric_name}",
            lambda s: {"metric": _identifier(s)},
            activates=True,
        ),
        MetricType(
            "Prometheus",
            "prometheus",
            Reason.FAILED_GET_PROMETHEUS_METRIC,
            _prometheus_name,
            _prometheus_block,
            activates=True,
            history=History.QUERY,
        ),
    )
}


__all__ = ["METRIC_TYPES", "History", "MetricType"]
