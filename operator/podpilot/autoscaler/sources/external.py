"""external.metrics.k8s.io: values of metrics that describe nothing in the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.api.proposals import Proposed, metric_selector
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.sources.aggregated_api import AggregatedApiSource, item_milli_value
from podpilot.autoscaler.sources.base import EvaluationContext, ExternalReadings, MetricSourceError

GROUP = "external.metrics.k8s.io"
SUPPORTED_VERSIONS = ("v1beta1",)


@dataclass(frozen=True)
class ExternalQuery:
    namespace: str
    metric: str
    metric_selector: str = ""


class ExternalMetricsSource(AggregatedApiSource):
    """The ``external.metrics.k8s.io`` source."""

    api = "external metrics API"
    group = GROUP
    versions = SUPPORTED_VERSIONS

    async def read(self, query: ExternalQuery) -> ExternalReadings:
        version = await self._version()
        params = {"labelSelector": query.metric_selector} if query.metric_selector else {}
        document = await self._get(version, query.namespace, query.metric, params)
        items: list[Mapping[str, Any]] = document.get("items", [])
        if not items:
            raise MetricSourceError(self.api, f"no metrics returned for {query.metric}")
        values = tuple(item_milli_value(item, self.api) for item in items)
        return ExternalReadings(values, parse_time(items[0].get("timestamp")) or 0.0)


async def read_external_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """An External metric: every value the query returned, summed as the HPA does."""
    readings = await context.sources.external.read(
        ExternalQuery(context.namespace, spec.metric_name, metric_selector(spec))
    )
    return context.external_values(spec, readings.values)
