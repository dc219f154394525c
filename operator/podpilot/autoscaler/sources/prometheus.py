"""Prometheus: PromQL instant queries against ``PrometheusServer``s, for the Prometheus type.

``prometheus-api-client`` is synchronous, so queries run in this source's own thread pool
(``max_concurrent`` workers, separate from the Kubernetes clients' pool) under a timeout per
server; a slow Prometheus can occupy at most these workers and never stalls API calls or the
event loop. The same query to the same server is made once per tick: concurrent callers
share the request in flight, and a result is reused for ``max_age`` seconds.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException

from podpilot.autoscaler.api.proposals import Proposed
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.sources.base import EvaluationContext, MetricSourceError
from podpilot.autoscaler.sources.prometheus_connection import Connection, redact
from podpilot.autoscaler.sources.prometheus_servers import ServerResolver, server_api
from podpilot.autoscaler.sources.promql_result import (
    EmptyResult,
    ReducedValue,
    Reduction,
    ResultError,
    excerpt,
    reduce_samples,
    samples_of,
)
from podpilot.kube.clients import ApiClients
from podpilot.kube.single_flight import SingleFlight


@dataclass(frozen=True)
class PrometheusQuery:
    namespace: str
    server: str
    query: str
    reduction: Reduction = Reduction.SUM
    empty_result: EmptyResult = EmptyResult.ERROR
    # The oldest shared result this caller accepts (see ``ResourceQuery.max_age``).
    max_age: float | None = field(default=None, compare=False)


_Key = tuple[str, str, str]  # namespace, server, query


def classify(error: BaseException) -> tuple[str, str]:
    """A bounded kind and a readable message for a failed query."""
    if isinstance(error, requests.Timeout | TimeoutError):
        return "timeout", "the query timed out"
    if isinstance(error, requests.ConnectionError):
        return "unreachable", f"cannot connect: {error}"
    if isinstance(error, ValueError):  # requests.JSONDecodeError: a 200 that is not JSON
        return (
            "bad_response",
            f"the answer is not JSON ({type(error).__name__}: {excerpt(str(error))})",
        )
    if isinstance(error, PrometheusApiClientException):
        text = str(error)
        if "HTTP Status Code 401" in text or "HTTP Status Code 403" in text:
            return "unauthorized", f"the server refused the credentials ({text[:200]})"
        return "http_error", text[:500]
    if isinstance(error, requests.RequestException):
        return "http_error", excerpt(str(error), 500)
    return "bad_response", f"{type(error).__name__}: {excerpt(str(error))}"


class PrometheusSource:
    """The ``Prometheus`` metric source: one reduced value per query."""

    api = "Prometheus"

    def __init__(
        self,
        clients: ApiClients,
        max_concurrent: int = 8,
        max_age: float = 1.0,
        resolver: ServerResolver | None = None,
    ) -> None:
        self._resolver = resolver or ServerResolver(clients)
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="podpilot-prometheus")
        self._results: SingleFlight[_Key, Any] = SingleFlight(self._fetch_key, max_age, prune=True)
        self.requests_made = 0

    async def read(self, query: PrometheusQuery) -> ReducedValue:
        api = server_api(query.namespace, query.server)
        key = (query.namespace, query.server, query.query)
        result = await self._results.read(key, query.max_age)
        try:
            return reduce_samples(samples_of(result), query.reduction, query.empty_result)
        except ResultError as error:
            raise MetricSourceError(api, str(error), error.kind) from None

    async def _fetch_key(self, key: _Key) -> Any:
        return await self._fetch(*key)

    async def _fetch(self, namespace: str, server: str, promql: str) -> Any:
        api = server_api(namespace, server)
        connection = await self._resolver.connection(namespace, server)
        self.requests_made += 1
        loop = asyncio.get_running_loop()
        # The client's own timeout bounds the request; this one also bounds DNS and TLS setup.
        deadline = connection.settings.timeout + 1.0
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._pool, connection.query, promql), deadline
            )
        except ResultError as error:
            raise MetricSourceError(api, _clean(str(error), connection), error.kind) from None
        except Exception as error:
            kind, message = classify(error)
            raise MetricSourceError(api, _clean(message, connection), kind) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._resolver.close()


def _clean(message: str, connection: Connection) -> str:
    return redact(message, connection.secrets)


async def read_prometheus_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """A Prometheus metric: one reduced value, with the External metric's math."""
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
    return context.external_values(spec, (reading.milli,))


__all__ = ["PrometheusQuery", "PrometheusSource", "classify", "read_prometheus_metric"]
