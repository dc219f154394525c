"""custom.metrics.k8s.io: per-pod metrics (Pods) and metrics describing one object (Object)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.api.proposals import Proposed, average_value_current, metric_selector
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.engine import (
    PodMetric,
    object_metric_replicas,
    object_per_pod_metric_replicas,
    plain_metric_replicas,
)
from podpilot.autoscaler.sources.aggregated_api import AggregatedApiSource, item_milli_value
from podpilot.autoscaler.sources.base import (
    EvaluationContext,
    MetricSourceError,
    ObjectReading,
    PodReadings,
)
from podpilot.kube.discovery import DiscoveryError

GROUP = "custom.metrics.k8s.io"
SUPPORTED_VERSIONS = ("v1beta2", "v1beta1")
DEFAULT_WINDOW = 60.0


@dataclass(frozen=True)
class PodsQuery:
    namespace: str
    pod_selector: str
    metric: str
    metric_selector: str = ""


@dataclass(frozen=True)
class ObjectQuery:
    namespace: str
    api_version: str
    kind: str
    name: str
    metric: str
    metric_selector: str = ""


class CustomMetricsSource(AggregatedApiSource):
    """The ``custom.metrics.k8s.io`` source; the version is negotiated by discovery."""

    api = "custom metrics API"
    group = GROUP
    versions = SUPPORTED_VERSIONS

    async def read(self, query: PodsQuery | ObjectQuery) -> PodReadings | ObjectReading:
        if isinstance(query, PodsQuery):
            return await self.read_pods(query)
        return await self.read_object(query)

    async def read_pods(self, query: PodsQuery) -> PodReadings:
        version = await self._version()
        params = {"labelSelector": query.pod_selector}
        if query.metric_selector:
            params["metricLabelSelector"] = query.metric_selector
        items = await self._items(version, query.namespace, f"pods/*/{query.metric}", params)
        samples = {}
        for item in items:
            name = (item.get("describedObject") or {}).get("name")
            if name:
                window = item.get("windowSeconds")
                samples[name] = PodMetric(
                    item_milli_value(item, self.api),
                    parse_time(item.get("timestamp")) or 0.0,
                    float(window) if window is not None else DEFAULT_WINDOW,
                )
        if not samples:
            raise MetricSourceError(self.api, f"no metrics returned for pods metric {query.metric}")
        return PodReadings(samples)

    async def read_object(self, query: ObjectQuery) -> ObjectReading:
        version = await self._version()
        try:
            resource = await self._discovery.resource_for_kind(query.api_version, query.kind)
        except DiscoveryError as error:
            raise MetricSourceError(self.api, str(error)) from error
        group_resource = (
            f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        )
        params = {"metricLabelSelector": query.metric_selector} if query.metric_selector else {}
        path = f"{group_resource}/{query.name}/{query.metric}"
        items = await self._items(version, query.namespace, path, params)
        if not items:
            raise MetricSourceError(
                self.api, f"no metrics returned for object metric {query.metric}"
            )
        return ObjectReading(
            item_milli_value(items[0], self.api), parse_time(items[0].get("timestamp")) or 0.0
        )

    async def _items(
        self, version: str, namespace: str, path: str, params: Mapping[str, str]
    ) -> list[Mapping[str, Any]]:
        document = await self._get(version, namespace, path, params)
        items: list[Mapping[str, Any]] = document.get("items", [])
        return items


async def read_pods_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """A Pods metric: one sample per selected pod, averaged against the target."""
    readings = await context.sources.custom.read_pods(
        PodsQuery(context.namespace, context.pod_selector, spec.metric_name, metric_selector(spec))
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
    return proposal, average_value_current(proposal), None


async def read_object_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """An Object metric: the value describing one object, as a Value or per pod."""
    described = spec.described_object
    assert described is not None
    reading = await context.sources.custom.read_object(
        ObjectQuery(
            context.namespace,
            described.api_version,
            described.kind,
            described.name,
            spec.metric_name,
            metric_selector(spec),
        )
    )
    return context.value_or_average_value(
        spec,
        reading.value,
        value_replicas=partial(object_metric_replicas, value=reading.value),
        average_value_replicas=partial(object_per_pod_metric_replicas, value=reading.value),
    )
