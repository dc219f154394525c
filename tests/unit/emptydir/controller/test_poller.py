"""Summary polling: every failure is an outcome, KWOK nodes are never requested, stale kept."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import SimpleNamespace

import kubernetes
import pytest
import urllib3

from podpilot.emptydir.controller.poller import (
    NO_ADDRESS_ERROR,
    PollResult,
    direct_fetcher,
    next_state,
    poll_due,
    poll_node,
)
from podpilot.emptydir.engine.model import NodeFacts
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.schedule import MAX_BACKOFF_SECONDS, PollSchedule
from podpilot.emptydir.engine.summary import parse_summary
from podpilot.kube.kubelet import KubeletError
from podpilot.settings import KubeletSettings

from ..helpers import NOW, summary_document

REAL = NodeInfo(NodeFacts("real"), kwok=False)
KWOK = NodeInfo(NodeFacts("kwok"), kwok=True)


def fetcher(outcome: object) -> Callable[[NodeInfo], Awaitable[bytes]]:
    async def fetch(node: NodeInfo) -> bytes:
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, bytes)
        return outcome

    return fetch


@pytest.mark.parametrize(
    ("raised", "outcome"),
    [
        (urllib3.exceptions.ConnectTimeoutError("connect timed out"), "timeout"),
        (ConnectionRefusedError("refused"), "error"),
        (KubeletError("tls", "certificate verify failed"), "tls"),
        (KubeletError("forbidden", "HTTP 403"), "forbidden"),
    ],
)
def test_failures_become_outcomes(raised: BaseException, outcome: str) -> None:
    result = asyncio.run(poll_node(fetcher(raised), REAL))
    assert (result.outcome, result.summary) == (outcome, None)
    assert result.error


@pytest.mark.parametrize("body", [b"", b'{"pods": [', b"[]", b"\xff"])
def test_undecodable_bodies(body: bytes) -> None:
    assert asyncio.run(poll_node(fetcher(body), REAL)).outcome == "decode"


def test_a_good_body_parses() -> None:
    body = json.dumps(summary_document("uid-p", "v", 5)).encode()
    result = asyncio.run(poll_node(fetcher(body), REAL))
    assert result.outcome == "ok"
    assert result.summary is not None and "uid-p" in result.summary.pods


def test_kwok_nodes_are_never_requested() -> None:
    result = asyncio.run(poll_node(fetcher(AssertionError("requested")), KWOK))
    assert (result.outcome, result.seconds) == ("skipped", None)
    assert result.error is not None and "KWOK" in result.error


def test_a_failure_keeps_the_last_good_summary() -> None:
    good = PollResult("real", "ok", summary=parse_summary(summary_document("u", "v", 1)))
    state = next_state(None, good, NOW)
    failed = next_state(state, PollResult("real", "timeout", error="t"), NOW + timedelta(minutes=1))
    assert failed.summary is state.summary
    assert failed.last_success == NOW
    assert (failed.consecutive_failures, failed.last_error) == (1, "t")
    assert next_state(failed, good, NOW).consecutive_failures == 0


class PeakCounting:
    """A fetch that answers ``body`` after 10 ms and counts the most polls at once."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.running = 0
        self.peak = 0

    async def __call__(self, node: NodeInfo) -> bytes:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return self.body


def test_poll_due_bounds_concurrency_and_reschedules() -> None:
    fetch = PeakCounting(json.dumps(summary_document("u", "v", 1)).encode())
    nodes = {f"n{i}": NodeInfo(NodeFacts(f"n{i}"), kwok=False) for i in range(10)} | {"kwok": KWOK}
    schedule = PollSchedule(uniform=lambda low, high: 0.0)
    results = asyncio.run(poll_due(fetch, nodes, schedule, interval=30.0, max_concurrent=3))
    assert fetch.peak == 3
    assert sorted(r.outcome for r in results) == ["ok"] * 10 + ["skipped"]
    assert schedule.due_at["kwok"] - schedule.due_at["n0"] >= MAX_BACKOFF_SECONDS - 31.0


def test_a_node_without_an_address_is_never_dialled() -> None:
    api = SimpleNamespace(
        kubernetes=SimpleNamespace(configuration=kubernetes.client.Configuration())
    )
    fetch = direct_fetcher(api, KubeletSettings())  # type: ignore[arg-type]
    result = asyncio.run(poll_node(fetch, REAL))
    assert (result.outcome, result.error) == ("error", NO_ADDRESS_ERROR)
