"""Prometheus: PromQL instant queries against ``PrometheusServer``s, for the Prometheus type.

``prometheus-api-client`` is synchronous, so queries run in this source's own thread pool
(``max_concurrent`` workers, separate from the Kubernetes clients' pool) under a timeout per
server; a slow Prometheus never stalls API calls or the event loop. One server holds at most
``limits.per_server_concurrency`` of the workers, and the servers of one namespace together at
most ``limits.per_namespace_concurrency``, counted until the thread really ends (not when the
caller gives up): a slow or trickling server cannot starve the others, nor can a tenant that
creates many of them starve the other namespaces. The same
query to the same server is made once per tick: concurrent callers share the request in
flight, and a result is reused for ``max_age`` seconds.

Every failure is a ``MetricSourceError`` whose message starts with its kind and gives a fixed
reason: nothing the server sent is quoted.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from podpilot.autoscaler.api.proposals import Proposed
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.sources.base import EvaluationContext, MetricSourceError
from podpilot.autoscaler.sources.prometheus_connection import Connection, redact
from podpilot.autoscaler.sources.prometheus_servers import (
    ServerResolver,
    server_api,
    server_failure,
)
from podpilot.autoscaler.sources.promql_result import (
    EmptyResult,
    ReducedValue,
    Reduction,
    ResultError,
    reduce_samples,
    samples_of,
)
from podpilot.kube.clients import ApiClients
from podpilot.kube.single_flight import SingleFlight
from podpilot.settings import DEFAULT_PROMETHEUS_LIMITS, PrometheusLimits


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
    """A bounded kind and a fixed message for a failed query (never the error's own text,
    which can quote the server or the URL)."""
    if isinstance(error, ResultError):
        return error.kind, str(error)
    if isinstance(error, requests.Timeout | TimeoutError) or _read_timed_out(error):
        return "timeout", "no complete answer within the query's time limit"
    if isinstance(error, requests.ConnectionError):
        return "unreachable", "cannot connect to the server, or it closed the connection"
    if isinstance(error, ValueError):
        return "bad_response", "the answer is not JSON"
    if isinstance(error, requests.RequestException):
        return "http_error", f"the request failed ({type(error).__name__})"
    return "bad_response", f"the answer could not be read ({type(error).__name__})"


def _read_timed_out(error: BaseException) -> bool:
    """A read timeout that ``requests`` reports as a ``ConnectionError``: with retries off,
    urllib3 wraps it in ``MaxRetryError``, which ``requests`` maps to ``ConnectionError``."""
    cause = error.args[0] if isinstance(error, requests.ConnectionError) and error.args else None
    return isinstance(getattr(cause, "reason", None), urllib3.exceptions.ReadTimeoutError)


class PrometheusSource:
    """The ``Prometheus`` metric source: one reduced value per query."""

    api = "Prometheus"

    def __init__(
        self,
        clients: ApiClients,
        max_concurrent: int = 8,
        max_age: float = 1.0,
        resolver: ServerResolver | None = None,
        limits: PrometheusLimits = DEFAULT_PROMETHEUS_LIMITS,
    ) -> None:
        self._resolver = resolver or ServerResolver(clients, limits=limits)
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="podpilot-prometheus")
        self._per_server = limits.per_server_concurrency
        self._per_namespace = limits.per_namespace_concurrency
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._namespace_slots: dict[str, asyncio.Semaphore] = {}
        self._results: SingleFlight[_Key, Any] = SingleFlight(self._fetch_key, max_age, prune=True)
        self.requests_made = 0

    async def read(self, query: PrometheusQuery) -> ReducedValue:
        api = server_api(query.namespace, query.server)
        key = (query.namespace, query.server, query.query)
        result = await self._results.read(key, query.max_age)
        try:
            return reduce_samples(samples_of(result), query.reduction, query.empty_result)
        except ResultError as error:
            raise MetricSourceError(api, f"{error.kind}: {error}", error.kind) from None

    async def _fetch_key(self, key: _Key) -> Any:
        return await self._fetch(*key)

    async def _fetch(self, namespace: str, server: str, promql: str) -> Any:
        api = server_api(namespace, server)
        connection = await self._resolver.connection(namespace, server)
        # Always the namespace's slot first, then the server's: no two waits cross.
        slots = (
            self._namespace_slots.setdefault(namespace, asyncio.Semaphore(self._per_namespace)),
            self._slots.setdefault((namespace, server), asyncio.Semaphore(self._per_server)),
        )
        # The connection's watchdog ends the request at its timeout, from connecting on; this
        # one also bounds the wait for the slots and name resolution.
        try:
            async with asyncio.timeout(connection.settings.timeout + 1.0):
                await _acquire_all(slots)
                return await self._run(slots, connection, promql)
        except Exception as error:
            kind, message = classify(error)
            raise server_failure(api, kind, _clean(message, connection)) from None

    async def _run(
        self, slots: tuple[asyncio.Semaphore, ...], connection: Connection, promql: str
    ) -> Any:
        """``connection.query`` in a worker; the slots are freed when the worker ends, even if
        the caller stopped waiting long before."""
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, connection.query, promql)
        except BaseException:
            _release_all(slots)
            raise
        self.requests_made += 1

        def finished(done: asyncio.Future[Any]) -> None:
            _release_all(slots)
            if not done.cancelled():
                done.exception()  # retrieved here, so an abandoned failure is not logged

        future.add_done_callback(finished)
        return await asyncio.shield(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._resolver.close()


async def _acquire_all(slots: tuple[asyncio.Semaphore, ...]) -> None:
    """Each of ``slots`` in order, or none of them (cancelled or timed out while waiting)."""
    held: list[asyncio.Semaphore] = []
    try:
        for slot in slots:
            await slot.acquire()
            held.append(slot)
    except BaseException:
        _release_all(tuple(held))
        raise


def _release_all(slots: tuple[asyncio.Semaphore, ...]) -> None:
    for slot in slots:
        slot.release()


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
