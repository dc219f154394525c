"""One node's poll never fails the cycle, and polls stay bounded: a hostile or broken answer is
that node's outcome, decoding happens off the event loop one body at a time, and polls never
take more than half of the shared API pool, whatever ``maxConcurrent`` asks."""

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from podpilot.emptydir.controller import poller
from podpilot.emptydir.controller.poller import MAX_POLLS_AT_ONCE, poll_due, poll_node
from podpilot.emptydir.engine.model import NodeFacts
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.schedule import PollSchedule
from podpilot.emptydir.engine.summary import NodeSummary
from podpilot.kube.clients import ApiClients
from podpilot.settings import OperatorSettings

from ..helpers import summary_document
from .test_poller import PeakCounting

GOOD = json.dumps(summary_document("u", "v", 1)).encode()
NESTED = b'{"pods":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
INTERVAL = 60.0


def nodes(*names: str) -> dict[str, NodeInfo]:
    return {name: NodeInfo(NodeFacts(name), kwok=False) for name in names}


def test_an_unforeseen_failure_is_the_nodes_error_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(node: NodeInfo) -> bytes:
        raise RuntimeError("a bug")

    with caplog.at_level(logging.ERROR, logger=poller.__name__):
        result = asyncio.run(poll_node(broken, nodes("n")["n"]))
    assert (result.outcome, result.summary) == ("error", None)
    assert result.error is not None and "RuntimeError" in result.error
    assert result.seconds is not None
    assert "node n failed unexpectedly" in caplog.text


def test_a_cancelled_poll_is_not_an_outcome() -> None:
    async def cancelled(node: NodeInfo) -> bytes:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(poll_node(cancelled, nodes("n")["n"]))


def test_a_deeply_nested_answer_fails_only_its_node_and_is_rescheduled() -> None:
    async def fetch(node: NodeInfo) -> bytes:
        return NESTED if node.facts.name == "hostile" else GOOD

    schedule = PollSchedule(uniform=lambda low, high: 0.0)
    results = asyncio.run(poll_due(fetch, nodes("a", "hostile", "b"), schedule, INTERVAL, 8))
    outcomes = {r.node: r.outcome for r in results}
    assert outcomes == {"a": "ok", "hostile": "decode", "b": "ok"}
    assert schedule.due(time.monotonic()) == []


def test_bodies_are_decoded_off_the_event_loop_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoding = 0
    peak = 0
    threads: set[int] = set()

    def decode(body: bytes) -> NodeSummary:
        nonlocal decoding, peak
        threads.add(threading.get_ident())
        decoding += 1
        peak = max(peak, decoding)
        time.sleep(0.02)
        decoding -= 1
        return NodeSummary(None, None, {})

    async def fetch(node: NodeInfo) -> bytes:
        return GOOD

    monkeypatch.setattr(poller, "decode_summary", decode)
    results = asyncio.run(poll_due(fetch, nodes("a", "b", "c", "d"), PollSchedule(), INTERVAL, 8))
    assert [r.outcome for r in results] == ["ok"] * 4
    assert threading.get_ident() not in threads
    assert peak == 1


def test_polls_never_exceed_the_cap_whatever_max_concurrent_asks() -> None:
    fetch = PeakCounting(GOOD)
    many = nodes(*(f"n{i}" for i in range(40)))
    asyncio.run(poll_due(fetch, many, PollSchedule(), INTERVAL, max_concurrent=64))
    assert fetch.peak == MAX_POLLS_AT_ONCE


def test_the_cap_leaves_half_of_the_shared_pool() -> None:
    assert OperatorSettings().max_concurrent_api_calls // 2 >= MAX_POLLS_AT_ONCE


def test_slow_kubelets_do_not_delay_other_api_calls() -> None:
    shared = ThreadPoolExecutor(OperatorSettings().max_concurrent_api_calls)
    api = ApiClients(
        kubernetes=SimpleNamespace(),  # type: ignore[arg-type]
        pykube=SimpleNamespace(),  # type: ignore[arg-type]
        pool=shared,
        status_pool=shared,
        coordination=SimpleNamespace(),  # type: ignore[arg-type]
        coordination_pool=shared,
    )

    async def slow_kubelet(node: NodeInfo) -> bytes:
        return await api.call(lambda: time.sleep(0.1) or GOOD)

    async def other_call() -> float:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await api.call(lambda: None)
        return time.monotonic() - started

    async def both() -> float:
        many = nodes(*(f"n{i}" for i in range(32)))
        _, waited = await asyncio.gather(
            poll_due(slow_kubelet, many, PollSchedule(), INTERVAL, max_concurrent=64),
            other_call(),
        )
        return waited

    try:
        assert asyncio.run(both()) < 0.08
    finally:
        shared.shutdown(wait=True)
