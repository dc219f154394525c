"""History for ``podpilot backtest`` and ``recommend``: PromQL range queries into a ``Trace``.

One ``query_range`` per series the specs need, through the session of a
``prometheus-api-client`` client (the project's PromQL library), each call read as the live
source reads an instant query (``prometheus_connection``): within ``timeout`` in total, at most
``max_response_bytes``, never retried. Usage and requests per pod for Resource metrics
(cAdvisor and kube-state-metrics series, names configurable), the PromQL of Prometheus metrics
as written (reduced per step with the metric's own ``reduction`` and ``emptyResult``, as the
live source reduces an instant query), and the workload's replica count.

Every failure is a ``HistoryError`` with a bounded ``kind`` (``unreachable``, ``timeout``,
``refused``, ``response_too_large``, ``bad_response``); the server's own words are kept short.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from podpilot.apimachinery.quantities import milli_from_float
from podpilot.autoscaler.api.metric_types import History
from podpilot.autoscaler.api.spec import AutoscalerSpec
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace
from podpilot.autoscaler.sources.prometheus_connection import (
    REDACTED,
    prometheus_client,
    read_bounded,
)
from podpilot.autoscaler.sources.promql_result import (
    EmptyResult,
    Reduction,
    ResultError,
    reduce_samples,
)
from podpilot.kube.http_deadline import streamed_get
from podpilot.settings import MIB

# The count the workload was asked to run (what the HPA writes), not the pods it had.
REPLICAS_METRICS = {
    "Deployment": "kube_deployment_spec_replicas",
    "StatefulSet": "kube_statefulset_replicas",
    "ReplicaSet": "kube_replicaset_spec_replicas",
}

# How each kind's controller names its pods, in the alphabet Kubernetes generates names from:
# a Deployment's "<name>-<template hash, 1-10>-<5>", a StatefulSet's "<name>-<ordinal>", a
# ReplicaSet's "<name>-<5>". A looser "<name>-.+" would also take web-api's pods for web's.
# Beside each: how long the generated prefix is beyond the name ("-<hash>-", "-").
GENERATED = "[bcdfghjklmnpqrstvwxz2456789]"
POD_NAME_SUFFIXES = {
    "Deployment": (f"-{GENERATED}{{1,10}}-{GENERATED}{{5}}", 12),
    "StatefulSet": ("-[0-9]+", 0),
    "ReplicaSet": (f"-{GENERATED}{{5}}", 1),
}
# The apiserver cuts a generateName prefix longer than this before adding its 5 characters.
GENERATED_PREFIX_LIMIT = 58


def default_pod_regex(kind: str, name: str) -> str:
    """The PromQL regex (anchored, as PromQL's are) of the pods of ``kind``/``name``. A name
    is a DNS subdomain, so only its dots need quoting, as ``[.]`` (kept readable in the query
    where a backslash would show doubled). A name long enough for the apiserver to cut its pods'
    generated prefix gets the loose ``<name>-.+``."""
    suffix, added_to_name = POD_NAME_SUFFIXES.get(kind, ("-.+", 0))
    if added_to_name and len(name) + added_to_name > GENERATED_PREFIX_LIMIT:
        suffix = "-.+"
    return name.replace(".", "[.]") + suffix


class HistoryError(Exception):
    """History could not be read; ``kind`` says how (see the module docstring)."""

    def __init__(self, message: str, kind: str = "bad_response") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Window:
    """The replayed range: whole epoch seconds, one step every ``step`` seconds."""

    start: float
    end: float
    step: float

    @property
    def count(self) -> int:
        return max(math.floor((self.end - self.start) / self.step + 1e-9) + 1, 0)

    def times(self) -> tuple[float, ...]:
        return tuple(self.start + index * self.step for index in range(self.count))

    def index(self, timestamp: float) -> int | None:
        position = (timestamp - self.start) / self.step
        index = round(position)
        return index if abs(position - index) < 1e-6 and 0 <= index < self.count else None


@dataclass(frozen=True)
class SeriesNames:
    """Where the history lives: the series names and how the workload's pods are found."""

    namespace: str
    pod_regex: str
    cpu_usage: str = "container_cpu_usage_seconds_total"
    memory_usage: str = "container_memory_working_set_bytes"
    requests: str = "kube_pod_container_resource_requests"
    rate_window: str = "1m"
    replicas_query: str = ""  # PromQL of the replica count; "" builds it from the target

    def usage_query(self, key: ResourceKey) -> str:
        selector = self._pod_selector(key.container, cadvisor=True)
        if key.resource == "cpu":
            return _per_pod(f"rate({self.cpu_usage}{{{selector}}}[{self.rate_window}])")
        if key.resource == "memory":
            return _per_pod(f"{self.memory_usage}{{{selector}}}")
        raise HistoryError(f"no usage series is known for resource {key.resource!r}", "usage")

    def requests_query(self, key: ResourceKey) -> str:
        selector = self._pod_selector(key.container, cadvisor=False)
        return _per_pod(f'{self.requests}{{{selector},resource="{key.resource}"}}')

    def replicas(self, spec: AutoscalerSpec) -> str:
        if self.replicas_query:
            return self.replicas_query
        metric = REPLICAS_METRICS.get(spec.target.kind)
        if metric is None:
            raise HistoryError(
                f"no replica series is known for kind {spec.target.kind}: give --replicas-query",
                "usage",
            )
        label = spec.target.kind.lower()
        selector = f"namespace={_quoted(self.namespace)},{label}={_quoted(spec.target.name)}"
        # max: every replica of kube-state-metrics (or every scrape job) reports the same count.
        return f"max({metric}{{{selector}}})"

    def _pod_selector(self, container: str, *, cadvisor: bool) -> str:
        labels = [f"namespace={_quoted(self.namespace)}", f"pod=~{_quoted(self.pod_regex)}"]
        if container:
            labels.append(f"container={_quoted(container)}")
        elif cadvisor:
            labels += ['container!=""', 'container!="POD"']
        return ",".join(labels)


def _quoted(value: str) -> str:
    """``value`` as a PromQL string, whatever it holds (PromQL strings escape as JSON's do)."""
    return json.dumps(value, ensure_ascii=False)


def _per_pod(series: str) -> str:
    """Containers summed per pod, each container's series once: two kube-state-metrics
    replicas, or two jobs scraping one cAdvisor, report the same series with other labels."""
    return f"sum by (pod) (max by (pod, container) ({series}))"


def redacted_url(url: str) -> str:
    """``url`` as a message may show it: credentials in it (``user:password@``) redacted."""
    parts = urlsplit(url)
    _, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


MAX_RANGE_RESPONSE_BYTES = 256 * MIB
"""Far above a workload's history at Prometheus's 11,000 points per series; a larger answer is
refused rather than held."""


class RangeReader:
    """``query_range`` against one Prometheus, every call within ``timeout`` seconds in total
    and ``max_response_bytes``, as the live source reads an instant query."""

    def __init__(
        self, url: str, timeout: float = 30.0, max_response_bytes: int = MAX_RANGE_RESPONSE_BYTES
    ) -> None:
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._session = requests.Session()
        self.client: Any = prometheus_client(url, self._session, timeout)
        self.url: str = self.client.url
        self.shown_url = redacted_url(self.url)  # in messages

    def matrix(self, query: str, window: Window) -> list[Mapping[str, Any]]:
        """The series of one range query (``data.result``)."""
        params = {
            "query": query,
            "start": str(round(window.start)),
            "end": str(round(window.end)),
            # Seconds as a plain number: "1.5s" or "1.08e+06s" is no Prometheus duration.
            "step": repr(float(window.step)),
        }
        try:
            with streamed_get(
                self._session, f"{self.url}/api/v1/query_range", self.timeout, params=params
            ) as response:
                status = response.status_code
                body = read_bounded(response, self.max_response_bytes)
        except (TimeoutError, requests.Timeout):
            raise HistoryError(
                f"{self.shown_url} did not answer within {self.timeout:g} s", "timeout"
            ) from None
        except requests.ConnectionError:
            raise HistoryError(f"cannot connect to {self.shown_url}", "unreachable") from None
        except ResultError as error:
            raise HistoryError(
                f"{self.shown_url}: {error}: raise --step or narrow --from/--to", error.kind
            ) from None
        except requests.RequestException as error:
            raise HistoryError(
                f"{self.shown_url}: unreadable answer ({type(error).__name__})"
            ) from None
        if status != 200:
            words = " ".join(body[:300].decode("utf-8", "replace").split())  # one line
            raise HistoryError(
                f"{self.shown_url} refused the query {query!r}: HTTP {status}: {words}", "refused"
            )
        try:
            result = json.loads(body)["data"]["result"]
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise HistoryError(
                f"{self.shown_url}: unreadable answer ({type(error).__name__})"
            ) from None
        if not isinstance(result, list) or not all(map(_is_series, result)):
            raise HistoryError(f"{self.shown_url}: the range query did not return a matrix")
        return result

    def close(self) -> None:
        self._session.close()


def _is_series(entry: object) -> bool:
    """Whether ``entry`` has a matrix series' shape: labels and a list of points."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("metric") or {}, dict)
        and isinstance(entry.get("values") or [], list)
    )


def _points(series: Mapping[str, Any], window: Window) -> Iterable[tuple[int, float]]:
    for raw in series.get("values") or []:
        try:
            timestamp, value = float(raw[0]), float(raw[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        index = window.index(timestamp)
        if index is not None and math.isfinite(value):
            yield index, value


def per_pod(result: Sequence[Mapping[str, Any]], window: Window) -> tuple[dict[str, int], ...]:
    """A ``sum by (pod)`` matrix to one mapping of pod to milli-units per step."""
    steps: list[dict[str, int]] = [{} for _ in window.times()]
    for series in result:
        pod = str((series.get("metric") or {}).get("pod", ""))
        if not pod:
            continue
        for index, value in _points(series, window):
            steps[index][pod] = milli_from_float(value)
    return tuple(steps)


def reduced(
    result: Sequence[Mapping[str, Any]],
    window: Window,
    reduction: Reduction,
    empty: EmptyResult,
) -> tuple[int | None, ...]:
    """A matrix to one value per step, reduced over the series as the live source reduces
    an instant vector (None where that would fail)."""
    times = window.times()
    samples: list[list[tuple[float, float]]] = [[] for _ in times]
    for series in result:
        for index, value in _points(series, window):
            samples[index].append((times[index], value))
    values: list[int | None] = []
    for step in samples:
        try:
            values.append(reduce_samples(step, reduction, empty).milli)
        except ResultError:
            values.append(None)
    return tuple(values)


def read_trace(
    reader: RangeReader,
    specs: Sequence[AutoscalerSpec],
    names: SeriesNames,
    window: Window,
) -> Trace:
    """Everything the replays of ``specs`` (one workload) read, over ``window``."""
    if not specs:
        raise HistoryError("no spec to read history for", "usage")
    times = window.times()
    replicas_matrix = reader.matrix(names.replicas(specs[0]), window)
    counts = reduced(replicas_matrix, window, Reduction.SUM, EmptyResult.ERROR)
    resources: dict[ResourceKey, PodSeries] = {}
    queries: dict[str, tuple[int | None, ...]] = {}
    for spec in specs:
        for metric in spec.metrics:
            if metric.history is History.POD_USAGE:
                key = ResourceKey(metric.resource, metric.container)
                if key not in resources:
                    usage = per_pod(reader.matrix(names.usage_query(key), window), window)
                    requested = per_pod(reader.matrix(names.requests_query(key), window), window)
                    resources[key] = PodSeries(usage, requested)
            elif metric.history is History.QUERY and metric.prometheus is not None:
                block = metric.prometheus
                if block.query not in queries:
                    queries[block.query] = reduced(
                        reader.matrix(block.query, window),
                        window,
                        Reduction(block.reduction),
                        EmptyResult(block.empty_result),
                    )
    return Trace(
        times=times,
        replicas=tuple(None if count is None else round(count / 1000) for count in counts),
        resources=resources,
        queries=queries,
    )


__all__ = [
    "MAX_RANGE_RESPONSE_BYTES",
    "REPLICAS_METRICS",
    "HistoryError",
    "RangeReader",
    "SeriesNames",
    "Window",
    "per_pod",
    "read_trace",
    "redacted_url",
    "reduced",
]
