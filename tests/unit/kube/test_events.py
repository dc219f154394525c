"""EventPoster: creates Events in their namespace with a timeout, never raises, counts outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.kube.clients import ApiClients, Timeouts
from podpilot.kube.events import EventPoster

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClients:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.kubernetes = kubernetes.client.ApiClient(kubernetes.client.Configuration())
        self.fail = fail
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
        self.timeouts = Timeouts()

    async def call(self, function: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        self.calls.append((function.__name__, args, kwargs))
        if self.fail is not None:
            raise self.fail
        return None


def spec(reason: str, namespace: str | None = "ns") -> EventSpec:
    return EventSpec(ObjectRef("v1", "Pod", "p", namespace, "u"), "Normal", reason, "m", "c")


def post_all(clients: FakeClients, specs: list[EventSpec]) -> list[str]:
    outcomes: list[str] = []
    poster = EventPoster(cast(ApiClients, clients), record=outcomes.append)
    asyncio.run(poster.post_all(specs, NOW))
    return outcomes


def test_events_are_created_in_their_namespace_with_a_timeout() -> None:
    clients = FakeClients()
    assert post_all(clients, [spec("A"), spec("B", namespace=None)]) == ["posted", "posted"]
    (name, (namespace, body), kwargs), second = clients.calls
    assert name == "create_namespaced_event"
    assert (namespace, body["reason"], body["lastTimestamp"]) == ("ns", "A", "2026-01-02T03:04:05Z")
    assert kwargs == {"_request_timeout": (5.0, 10.0)}  # at most 10 s, whatever --api-timeout
    assert second[1][0] == "default"


def test_refusals_and_timeouts_are_counted_not_raised() -> None:
    for failure in (
        ApiException(status=403, reason="Forbidden"),
        urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
        ConnectionResetError(),
    ):
        assert post_all(FakeClients(fail=failure), [spec("A")]) == ["failed"]


def test_an_event_never_waits_longer_than_any_other_call() -> None:
    clients = FakeClients()
    clients.timeouts = Timeouts.reading(3)
    post_all(clients, [spec("A")])
    assert clients.calls[0][2] == {"_request_timeout": (3, 3)}
