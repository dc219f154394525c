"""The metric sources of one operator process, and which reads each ``spec.metrics`` type.

Adding a source: its module in ``sources/`` (a ``MetricSource`` and a ``MetricReader``), a
field here and its class in ``SOURCE_CLASSES``, one line in ``READERS``, its words and status
shape in ``api.metric_types``, its block's rules in ``api.spec.SOURCE_RULES``, and the type in
the CRD's schema (docs/architecture.md, "Adding a metric source"). A unit test checks that
they all name the same types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.autoscaler.sources.base import MetricReader, MetricSource
from podpilot.autoscaler.sources.custom import (
    CustomMetricsSource,
    read_object_metric,
    read_pods_metric,
)
from podpilot.autoscaler.sources.external import ExternalMetricsSource, read_external_metric
from podpilot.autoscaler.sources.prometheus import PrometheusSource, read_prometheus_metric
from podpilot.autoscaler.sources.resource import ResourceMetricsSource, read_resource_metric
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery
from podpilot.settings import DEFAULT_PROMETHEUS_LIMITS, PrometheusLimits


@dataclass(frozen=True)
class MetricSources:
    """One source per metrics API; ``spec.metrics[].type`` picks among them."""

    resource: ResourceMetricsSource
    custom: CustomMetricsSource
    external: ExternalMetricsSource
    prometheus: PrometheusSource

    @classmethod
    def build(
        cls,
        clients: ApiClients,
        discovery: Discovery,
        resource_max_age: float,
        prometheus_concurrency: int = 8,
        prometheus_limits: PrometheusLimits = DEFAULT_PROMETHEUS_LIMITS,
    ) -> MetricSources:
        return cls(
            resource=ResourceMetricsSource(clients, discovery, resource_max_age),
            custom=CustomMetricsSource(clients, discovery),
            external=ExternalMetricsSource(clients, discovery),
            prometheus=PrometheusSource(
                clients, max_concurrent=prometheus_concurrency, limits=prometheus_limits
            ),
        )


SOURCE_CLASSES: tuple[type[MetricSource[Any, Any]], ...] = (
    ResourceMetricsSource,
    CustomMetricsSource,
    ExternalMetricsSource,
    PrometheusSource,
)
"""The class of every field of ``MetricSources``, typed as the interface: mypy checks here that
each one implements it."""

# Each metric type of the spec and the reader that reads it from its source.
READERS: Mapping[str, MetricReader] = {
    "Resource": read_resource_metric,
    "ContainerResource": read_resource_metric,
    "Pods": read_pods_metric,
    "Object": read_object_metric,
    "External": read_external_metric,
    "Prometheus": read_prometheus_metric,
}
