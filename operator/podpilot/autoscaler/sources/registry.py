"""The metric sources of one operator process, built once and shared by every Autoscaler."""

from __future__ import annotations

from dataclasses import dataclass

from podpilot.autoscaler.sources.custom import CustomMetricsSource
from podpilot.autoscaler.sources.external import ExternalMetricsSource
from podpilot.autoscaler.sources.prometheus import PrometheusSource
from podpilot.autoscaler.sources.resource import ResourceMetricsSource
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery


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
    ) -> MetricSources:
        return cls(
            resource=ResourceMetricsSource(clients, discovery, resource_max_age),
            custom=CustomMetricsSource(clients, discovery),
            external=ExternalMetricsSource(clients, discovery),
            prometheus=PrometheusSource(clients, max_concurrent=prometheus_concurrency),
        )
