"""EventPoster: creates Events in their namespace with a timeout, counts outcomes, raises only a
refusal of its caller's may_write."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import kubernetes
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.kube.clients import ApiClients, Timeouts
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClients:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.kubernetes = kubernetes.client.ApiClient(kubernetes.client.Configuration())
        self.fail = fail
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
        self.timeouts = Timeouts()

    async def call(
        self, send: Callable[[MayWrite, Callable[[], Any]], Any], may_write: MayWrite, request: Any
    ) -> Any:
        """Runs ``send_if_allowed`` inline, noting the request instead of sending it."""
        return send(may_write, partial(self._note, request))

    def _note(self, request: partial[Any]) -> None:
        self.calls.append((request.func.__name__, request.args, request.keywords))
        if self.fail is not None:
            raise self.fail


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


def refused(message: str, causes: list[dict[str, str]]) -> ApiException:
    refusal = ApiException(status=403, reason="Forbidden")
    details = {"kind": "events", "causes": causes}
    status = {"kind": "Status", "reason": "Forbidden", "message": message, "details": details}
    refusal.body = json.dumps(status)
    return refusal


def test_a_refusal_is_logged_in_the_servers_words(caplog: pytest.LogCaptureFixture) -> None:
    message = 'events "x" is forbidden: User "system:serviceaccount:ops:pp" cannot create it'
    assert post_all(FakeClients(fail=refused(message, [])), [spec("A")]) == ["failed"]
    logged = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "podpilot.kube.events"
    ]
    assert logged == [
        (logging.WARNING, f"could not post Event A: Error from server (Forbidden): {message}")
    ]


def test_a_namespace_being_deleted_is_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The namespace lifecycle admission refuses new Events in a namespace being deleted, and
    says so by the cause it names; the object goes with it, so nothing is wrong."""
    caplog.set_level(logging.DEBUG)
    message = "unable to create new content in namespace ns because it is being terminated"
    cause = {"type": "NamespaceTerminating", "message": "namespace ns is being terminated"}
    assert post_all(FakeClients(fail=refused(message, [cause])), [spec("A")]) == ["failed"]
    logged = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "podpilot.kube.events"
    ]
    assert logged == [(logging.DEBUG, "Event A not posted: its namespace is being deleted")]


def test_an_event_never_waits_longer_than_any_other_call() -> None:
    clients = FakeClients()
    clients.timeouts = Timeouts.reading(3)
    post_all(clients, [spec("A")])
    assert clients.calls[0][2] == {"_request_timeout": (3, 3)}


def test_events_refused_by_may_write_are_neither_sent_nor_counted_and_stop_the_caller() -> None:
    """A fenced caller stops: the refusal is raised once every post has ended."""
    clients = FakeClients()
    outcomes: list[str] = []
    poster = EventPoster(cast(ApiClients, clients), record=outcomes.append)
    asked: list[str] = []

    def lost_after_one_post() -> bool:
        asked.append("asked")
        return len(asked) == 1

    with pytest.raises(WriteNotAllowedError):
        asyncio.run(
            poster.post_all([spec("A"), spec("B"), spec("C")], NOW, may_write=lost_after_one_post)
        )
    assert [call[1][1]["reason"] for call in clients.calls] == ["A"]
    assert outcomes == ["posted"]
    assert len(asked) == 3  # every post ended, none left in flight
