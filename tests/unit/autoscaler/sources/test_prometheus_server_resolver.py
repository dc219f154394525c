"""The PrometheusServer resolver: one read of a server's object and Secrets at a time, shared
while fresh; a connection rebuilt only when what it was made from changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus_connection import ConnectionSettings, Credentials
from podpilot.autoscaler.sources.prometheus_servers import ServerResolver, ServerSettings
from podpilot.kube.clients import ApiClients

SETTINGS = ConnectionSettings("http://127.0.0.1:9", 5.0)


class HeldClients:
    """Runs each call once ``answer`` is set, so that callers can pile up meanwhile."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.answer.set()

    async def call(self, function: Callable[..., Any], /, *args: object) -> Any:
        await self.answer.wait()
        return function(*args)


class CountingResolver(ServerResolver):
    def __init__(self, clients: HeldClients, ttl: float) -> None:
        super().__init__(cast(ApiClients, clients), ttl=ttl)
        self.reads = 0
        self.credentials = Credentials(bearer_token="first")
        self.failure: MetricSourceError | None = None

    def _read(self, namespace: str, name: str) -> ServerSettings:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return SETTINGS, self.credentials


def test_callers_at_once_share_one_read_and_one_connection() -> None:
    async def scenario() -> None:
        clients = HeldClients()
        resolver = CountingResolver(clients, ttl=60)
        clients.answer.clear()
        callers = [asyncio.create_task(resolver.connection("shop", "main")) for _ in range(5)]
        await asyncio.sleep(0.01)
        clients.answer.set()
        connections = await asyncio.gather(*callers)
        assert resolver.reads == 1
        assert all(connection is connections[0] for connection in connections)
        resolver.close()

    asyncio.run(scenario())


def test_a_fresh_read_is_kept_and_an_unchanged_one_keeps_its_connection() -> None:
    async def scenario() -> None:
        resolver = CountingResolver(HeldClients(), ttl=0.05)
        first = await resolver.connection("shop", "main")
        assert await resolver.connection("shop", "main") is first
        assert resolver.reads == 1
        await asyncio.sleep(0.06)
        assert await resolver.connection("shop", "main") is first
        assert resolver.reads == 2
        resolver.close()

    asyncio.run(scenario())


def test_rotated_credentials_make_a_new_connection_and_close_the_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        resolver = CountingResolver(HeldClients(), ttl=0.01)
        first = await resolver.connection("shop", "main")
        closed: list[object] = []
        monkeypatch.setattr(first, "close", lambda: closed.append(first))
        resolver.credentials = Credentials(bearer_token="rotated")
        await asyncio.sleep(0.02)
        second = await resolver.connection("shop", "main")
        assert second is not first
        assert closed == [first]
        resolver.close()

    asyncio.run(scenario())


def test_a_failed_read_is_shared_by_the_callers_at_once_and_not_kept() -> None:
    async def scenario() -> None:
        clients = HeldClients()
        resolver = CountingResolver(clients, ttl=60)
        resolver.failure = MetricSourceError("Prometheus server shop/main", "not_found: x", "x")
        clients.answer.clear()
        callers = [asyncio.create_task(resolver.connection("shop", "main")) for _ in range(3)]
        await asyncio.sleep(0.01)
        clients.answer.set()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
        assert all(outcome is resolver.failure for outcome in outcomes)
        assert resolver.reads == 1
        resolver.failure = None
        await resolver.connection("shop", "main")
        assert resolver.reads == 2
        resolver.close()

    asyncio.run(scenario())
