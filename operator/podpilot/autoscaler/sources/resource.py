"""metrics.k8s.io: CPU and memory usage per pod, read once per namespace and shared.

Every Autoscaler in a namespace that uses a Resource or ContainerResource metric needs the
same PodMetrics list, so it is fetched at most once per ``max_age`` seconds per namespace
(concurrent callers wait for the one request in flight) and filtered by the caller. A query
may ask for a younger list (``ResourceQuery.max_age``): an Autoscaler asks for one younger
than half its period, so that it never reuses the list its own previous evaluation read.

Each list's per-pod readings are computed once per query (resource and container), not once
per Autoscaler. A new list computes, in the client pool's thread with its conversion, the
readings of every query its namespace was asked in the last ``ASKED_QUERY_TTL`` seconds: at
3,000 pods a namespace, computing them on the event loop held it for tens of milliseconds per
list.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from podpilot.apimachinery.durations import parse_go_duration
from podpilot.apimachinery.quantities import QuantityError, milli_value
from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.api.proposals import Proposed, utilization_or_average_value
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.engine import PodMetric
from podpilot.autoscaler.engine.utilization import pod_usage_from_containers
from podpilot.autoscaler.sources.aggregated_api import AggregatedApiSource
from podpilot.autoscaler.sources.base import EvaluationContext, MetricSourceError, PodReadings
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery
from podpilot.kube.single_flight import SingleFlight

GROUP = "metrics.k8s.io"
SUPPORTED_VERSIONS = ("v1beta1",)
# A query not asked for this long (its Autoscaler deleted or changed) is no longer computed
# ahead for the namespace's new lists; asked again, it is computed on its first read.
ASKED_QUERY_TTL = 300.0


@dataclass(frozen=True)
class ResourceQuery:
    namespace: str
    resource: str
    container: str = ""
    # The oldest shared list this caller accepts; not part of what is asked.
    max_age: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class _PodUsage:
    timestamp: float
    window: float
    containers: tuple[tuple[str, Mapping[str, int]], ...]


Asked = tuple[str, str]  # (resource, container) of a query


@dataclass(frozen=True, slots=True)
class PodMetricsList:
    """One namespace's list as per-pod usage, with its readings per query asked so far."""

    pods: Mapping[str, _PodUsage]
    readings: dict[Asked, PodReadings] = field(default_factory=dict)

    def readings_for(self, asked: Asked) -> PodReadings:
        readings = self.readings.get(asked)
        if readings is None:
            readings = self.readings[asked] = pod_readings(self.pods, *asked)
        return readings


def pod_readings(pods: Mapping[str, _PodUsage], resource: str, container: str) -> PodReadings:
    """Each pod's usage of ``resource`` (in ``container``, or summed over the pod)."""
    samples: dict[str, PodMetric] = {}
    for name, usage in pods.items():
        value = pod_usage_from_containers(usage.containers, resource, container)
        if value is not None:
            samples[name] = PodMetric(value, usage.timestamp, usage.window)
    return PodReadings(samples)


def converted_list(document: Mapping[str, Any], asked: Collection[Asked] = ()) -> PodMetricsList:
    """A PodMetricsList body with the readings of the ``asked`` queries computed."""
    listed = PodMetricsList(parse_pod_metrics_list(document))
    for query in asked:
        listed.readings_for(query)
    return listed


def _usage(raw: Mapping[str, Any]) -> dict[str, int]:
    usage: dict[str, int] = {}
    for resource, quantity in raw.items():
        try:
            usage[resource] = milli_value(str(quantity))
        except QuantityError:
            continue
    return usage


def parse_pod_metrics_list(document: Mapping[str, Any]) -> dict[str, _PodUsage]:
    """A PodMetricsList body to per-pod usage, in milli-units."""
    pods: dict[str, _PodUsage] = {}
    # Pods scraped together (metrics-server scrapes a node at once) share their timestamp and
    # window texts: each distinct text is parsed once per list, not once per pod.
    timestamps: dict[str, float] = {}
    windows: dict[str, float] = {}
    for item in document.get("items", []):
        name = item.get("metadata", {}).get("name")
        if not name:
            continue
        stamp = str(item.get("timestamp") or "")
        timestamp = timestamps.get(stamp)
        if timestamp is None:
            timestamp = timestamps[stamp] = parse_time(stamp) or 0.0
        window_text = str(item.get("window") or "0s")
        window = windows.get(window_text)
        if window is None:
            window = windows[window_text] = parse_go_duration(window_text)
        pods[name] = _PodUsage(
            timestamp=timestamp,
            window=window,
            containers=tuple(
                (str(c.get("name", "")), _usage(c.get("usage") or {}))
                for c in item.get("containers") or []
            ),
        )
    return pods


class ResourceMetricsSource(AggregatedApiSource):
    """The ``metrics.k8s.io`` source (Resource and ContainerResource metrics)."""

    api = "resource metrics API"
    group = GROUP
    versions = SUPPORTED_VERSIONS

    def __init__(self, clients: ApiClients, discovery: Discovery, max_age: float = 5.0) -> None:
        super().__init__(clients, discovery)
        # One list per namespace, shared by every reader (see the module docstring).
        self._lists: SingleFlight[str, PodMetricsList] = SingleFlight(self._fetch, max_age)
        # Per namespace, the queries its lists were asked, and when last: a new list computes
        # the readings of those asked within ASKED_QUERY_TTL.
        self._asked: dict[str, dict[Asked, float]] = {}
        self.clock = time.monotonic

    async def read(self, query: ResourceQuery) -> PodReadings:
        listed = await self._lists.read(query.namespace, query.max_age)
        asked = (query.resource, query.container)
        self._asked.setdefault(query.namespace, {})[asked] = self.clock()
        readings = listed.readings_for(asked)
        if not readings.samples:
            raise MetricSourceError(
                self.api, f"no metrics returned for resource {query.resource} in {query.namespace}"
            )
        return readings

    async def _fetch(self, namespace: str) -> PodMetricsList:
        version = await self._version()
        convert = partial(converted_list, asked=self._recently_asked(namespace))
        return await self._get_converted(version, namespace, "pods", convert)

    def _recently_asked(self, namespace: str) -> frozenset[Asked]:
        asked = self._asked.get(namespace, {})
        oldest = self.clock() - ASKED_QUERY_TTL
        for query in [query for query, when in asked.items() if when < oldest]:
            del asked[query]
        if not asked:
            self._asked.pop(namespace, None)
        return frozenset(asked)


async def read_resource_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """A Resource or ContainerResource metric: the selected pods' usage, then the proposal."""
    source = context.sources.resource
    # A list younger than half the period: shared with the Autoscalers evaluated close by,
    # never the one this Autoscaler's previous evaluation read (periods are fixed-rate).
    readings = await source.read(
        ResourceQuery(context.namespace, spec.resource, spec.container, max_age=context.period / 2)
    )
    # The namespace's readings are shared: look up the selected pods, do not scan them all.
    every = readings.samples
    samples = {pod.name: every[pod.name] for pod in context.pods if pod.name in every}
    if not samples:
        raise MetricSourceError(
            source.api,
            f"unable to get metrics for resource {spec.resource}: no metrics returned from "
            "resource metrics API",
        )
    return utilization_or_average_value(
        spec,
        samples,
        current_replicas=context.current_replicas,
        pods=context.pods,
        now=context.now,
        tolerances=context.tolerances,
        settings=context.settings,
    )
