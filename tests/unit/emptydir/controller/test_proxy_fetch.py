"""The Summary read through the API server's node proxy, against a server on 127.0.0.1 standing
in for the API server: bounded as the direct read is (a trickling answer ends at the deadline,
a large one is refused), with the operator's token, and a refusal without its body."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import kubernetes
import pytest
import urllib3
from tests.local_http import serving
from tests.unit.autoscaler.sources.trickling_server import Trickler, http_answer, trickling

from podpilot.emptydir.controller.poller import PollResult, poll_node, proxy_fetcher
from podpilot.emptydir.engine.model import NodeFacts
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.kube import kubelet
from podpilot.kube.clients import Timeouts

from ..helpers import summary_document

T = TypeVar("T")
TOKEN = "proxy-test-token"
NODE = NodeInfo(NodeFacts("node-1"), kwok=False)
PATH = "/api/v1/nodes/node-1/proxy/stats/summary"
SUMMARY = json.dumps(summary_document("uid-p", "data", 5)).encode()
DEADLINE = 1.0


@pytest.fixture
def clients() -> Iterator[Callable[[str], Any]]:
    """Builds the stand-in ``ApiClients`` for an API server at a URL; closed afterwards."""
    made: list[kubernetes.client.ApiClient] = []

    async def call(function: Callable[..., T], /, *args: object) -> T:
        return await asyncio.to_thread(function, *args)

    def build(url: str) -> Any:
        configuration = kubernetes.client.Configuration(host=url)
        configuration.api_key["authorization"] = f"Bearer {TOKEN}"
        made.append(kubernetes.client.ApiClient(configuration))
        return SimpleNamespace(kubernetes=made[-1], timeouts=Timeouts(0.5, 5), call=call)

    yield build
    for client in made:
        client.close()


def poll(api: Any) -> PollResult:
    return asyncio.run(poll_node(proxy_fetcher(api, DEADLINE), NODE))


def test_the_summary_is_read_with_the_token(clients: Callable[[str], Any]) -> None:
    seen: list[str | None] = []
    with serving({PATH: (200, SUMMARY)}, seen=seen) as url:
        result = poll(clients(url))
    assert result.outcome == "ok" and result.summary is not None
    assert seen == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("trickled", ["headers", "body"])
def test_a_trickling_answer_ends_at_the_deadline(
    clients: Callable[[str], Any], trickled: str
) -> None:
    answer = http_answer(SUMMARY)
    at_once = len(answer) - len(SUMMARY) if trickled == "body" else 0
    with trickling(Trickler(answer, at_once=at_once)) as server:
        started = time.monotonic()
        result = poll(clients(server.url))
        elapsed = time.monotonic() - started
    assert result.outcome == "timeout" and "node-1" in (result.error or "")
    assert 0.9 < elapsed < 1.6  # the deadline, shut at once


def test_an_answer_beyond_the_cap_is_refused(
    clients: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet, "MAX_SUMMARY_BYTES", 1000)
    with serving({PATH: (200, SUMMARY + b" " * 5000)}) as url:
        result = poll(clients(url))
    assert result.outcome == "error" and "more than 1000 bytes" in (result.error or "")


@pytest.mark.parametrize(("status", "outcome"), [(403, "forbidden"), (504, "timeout")])
def test_a_refusal_is_named_without_its_body(
    clients: Callable[[str], Any], status: int, outcome: str
) -> None:
    with serving({PATH: (status, b"refused: secret detail")}) as url:
        result = poll(clients(url))
    assert result.outcome == outcome and f"HTTP {status}" in (result.error or "")
    assert "secret" not in (result.error or "")


class RecordedToken:
    """A token source that records what the API server refused."""

    def __init__(self) -> None:
        self.refused: list[str | None] = []

    def authorization(self) -> str:
        return f"Bearer {TOKEN}"

    def unauthorized(self, authorization: str | None) -> None:
        self.refused.append(authorization)


def test_a_401_through_the_proxy_is_forbidden_and_keeps_the_token(
    clients: Callable[[str], Any],
) -> None:
    # The API server relays the kubelet's own 401: the operator's token may be good.
    with serving({PATH: (200, SUMMARY)}, authorization=lambda: "Bearer rotated") as url:
        api = clients(url)
        api.kubernetes.rest_client.token = token = RecordedToken()
        result = poll(api)
    assert result.outcome == "forbidden" and "HTTP 401" in (result.error or "")
    assert token.refused == []


def test_a_timed_out_request_is_not_sent_again(clients: Callable[[str], Any]) -> None:
    with trickling(Trickler(http_answer(SUMMARY))) as server:
        api = clients(server.url)
        api.kubernetes.rest_client.pool_manager.connection_pool_kw["retries"] = urllib3.Retry(3)
        assert poll(api).outcome == "timeout"
    assert server.connections == 1


def test_the_request_carries_the_clients_user_agent(clients: Callable[[str], Any]) -> None:
    agents: list[str | None] = []
    with serving({PATH: (200, SUMMARY)}, user_agents=agents) as url:
        api = clients(url)
        api.kubernetes.user_agent = "podpilot/test"
        assert poll(api).outcome == "ok"
    assert agents == ["podpilot/test"]
