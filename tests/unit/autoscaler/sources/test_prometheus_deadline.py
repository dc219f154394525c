"""A query's total time bounds the whole exchange, headers included: a server on 127.0.0.1
trickling its status line and headers a byte every 0.2 s (each within the 1 s per-read
timeout, 40 s in all) is cut at the deadline, on a new or a pooled connection, and the worker
is free for the next tenant at once."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.e2e.prometheus_fault_proxy import vector
from tests.local_http import serving

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus import PrometheusQuery, PrometheusSource
from podpilot.autoscaler.sources.prometheus_connection import (
    Connection,
    ConnectionSettings,
    Credentials,
)
from podpilot.settings import PrometheusLimits

from .test_prometheus_guardrails import Servers
from .trickling_server import Trickler, http_answer, trickling

DEADLINE = 1.0


def connect(url: str) -> Connection:
    return Connection(ConnectionSettings(url, DEADLINE), Credentials())


def seconds_to_fail(connection: Connection) -> float:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        connection.query("sum(up)")
    return time.monotonic() - started


def test_trickled_headers_cannot_hold_a_query_past_its_deadline() -> None:
    with trickling(Trickler(http_answer(vector("1")))) as server:
        connection = connect(server.url)
        try:
            assert 0.9 < seconds_to_fail(connection) < 1.6
        finally:
            connection.close()


def test_a_pooled_connection_is_cut_at_the_deadline_too() -> None:
    with trickling(Trickler(http_answer(vector("1")), whole_first=1)) as server:
        connection = connect(server.url)
        try:
            assert connection.query("up") == [{"metric": {"series": "0"}, "value": [1.0, "1"]}]
            assert 0.9 < seconds_to_fail(connection) < 1.6
        finally:
            connection.close()
        assert server.connections == 1  # the second query was sent on the first's connection


def test_the_worker_is_free_for_another_tenant_at_the_deadline() -> None:
    """One worker: the trickling server's query fails at its deadline (not at the caller's
    deadline a second later), and the healthy server's query runs on that worker at once."""
    with (
        trickling(Trickler(http_answer(vector("1")))) as bad,
        serving({}, default=(200, vector("3"))) as good,
    ):
        servers = Servers({"bad": connect(bad.url), "good": connect(good)})
        limits = PrometheusLimits(per_server_concurrency=1)
        source = PrometheusSource(None, max_concurrent=1, resolver=servers, limits=limits)  # type: ignore[arg-type]

        async def scenario() -> tuple[float, float]:
            started = time.monotonic()
            with pytest.raises(MetricSourceError) as raised:
                await source.read(PrometheusQuery("a", "bad", "sum(up)"))
            assert raised.value.kind == "timeout"
            failed = time.monotonic() - started
            started = time.monotonic()
            assert (await source.read(PrometheusQuery("b", "good", "sum(up)"))).milli == 3000
            return failed, time.monotonic() - started

        try:
            failed, answered = asyncio.run(scenario())
        finally:
            source.close()
    assert failed < 1.6
    assert answered < 0.5
