"""Fetch kubelet Summaries through the API server's node proxy, a bounded number at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import kubernetes
import urllib3

from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.schedule import PollSchedule
from podpilot.emptydir.engine.summary import (
    NodeStatsState,
    NodeSummary,
    SummaryDecodeError,
    decode_summary,
)
from podpilot.kube.clients import ApiClients, timed_out

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0
KWOK_ERROR = "KWOK node (kwok.x-k8s.io/node=fake): no kubelet, no Summary endpoint"


@dataclass(frozen=True)
class PollResult:
    """The outcome of one node's poll.

    Attributes:
        node: Node name.
        outcome: ``ok``, ``forbidden``, ``timeout``, ``error``, ``decode`` or ``skipped`` (the
            metric label).
        summary: The parsed Summary when ``outcome == "ok"``.
        error: A short description otherwise.
        seconds: Request duration, or ``None`` when no request was sent.
    """

    node: str
    outcome: str
    summary: NodeSummary | None = None
    error: str | None = None
    seconds: float | None = None


Fetch = Callable[[str], Awaitable[bytes]]


def proxy_fetcher(api: ApiClients, timeout: float = REQUEST_TIMEOUT_SECONDS) -> Fetch:
    """Read ``/api/v1/nodes/{node}/proxy/stats/summary`` in the client pool (nodes/proxy get)."""
    core = kubernetes.client.CoreV1Api(api.kubernetes)
    bounds = (min(api.timeouts.connect, timeout), timeout)

    def get(node: str) -> bytes:
        response = core.connect_get_node_proxy_with_path(
            node, "stats/summary", _preload_content=False, _request_timeout=bounds
        )
        return bytes(cast(Any, response).data)

    async def fetch(node: str) -> bytes:
        return await api.call(get, node)

    return fetch


async def poll_node(fetch: Fetch, node: NodeInfo) -> PollResult:
    """Poll one node; every failure becomes an outcome, never an exception."""
    name = node.facts.name
    if node.kwok:
        return PollResult(name, "skipped", error=KWOK_ERROR)
    started = time.monotonic()
    try:
        body = await fetch(name)
    except kubernetes.client.exceptions.ApiException as error:
        status = error.status or 0
        outcome = "forbidden" if status in (401, 403) else "timeout" if status == 504 else "error"
        return PollResult(
            name, outcome, error=f"HTTP {status} {error.reason}", seconds=_since(started)
        )
    except (urllib3.exceptions.HTTPError, OSError) as error:
        if timed_out(error):  # also when urllib3 wraps it
            return PollResult(name, "timeout", error=f"timeout: {error}", seconds=_since(started))
        return PollResult(
            name, "error", error=f"{type(error).__name__}: {error}", seconds=_since(started)
        )
    seconds = _since(started)
    try:
        summary = decode_summary(body)
    except SummaryDecodeError as error:
        return PollResult(name, "decode", error=str(error), seconds=seconds)
    return PollResult(name, "ok", summary=summary, seconds=seconds)


async def poll_due(
    fetch: Fetch,
    nodes: Mapping[str, NodeInfo],
    schedule: PollSchedule,
    interval: float,
    max_concurrent: int,
) -> list[PollResult]:
    """Poll every node that is due, at most ``max_concurrent`` at a time; reschedule each."""
    schedule.sync(nodes, time.monotonic())
    due = [nodes[n] for n in schedule.due(time.monotonic())]
    gate = asyncio.Semaphore(max_concurrent)

    async def one(node: NodeInfo) -> PollResult:
        async with gate:
            return await poll_node(fetch, node)

    results = await asyncio.gather(*(one(n) for n in due))
    for result in results:
        if result.outcome == "ok":
            schedule.succeeded(result.node, time.monotonic(), interval)
        else:
            delay = schedule.failed(
                result.node, time.monotonic(), interval, hopeless=result.outcome == "skipped"
            )
            if result.outcome != "skipped":
                logger.info(
                    "Summary of node %s failed (%s); next try in %.0fs",
                    result.node,
                    result.error,
                    delay,
                )
    return list(results)


def next_state(state: NodeStatsState | None, result: PollResult, now: datetime) -> NodeStatsState:
    """Fold a poll into a node's state; a failure keeps the last good Summary (it goes stale)."""
    state = state or NodeStatsState()
    if result.summary is not None:
        return NodeStatsState(summary=result.summary, last_success=now)
    return replace(
        state, consecutive_failures=state.consecutive_failures + 1, last_error=result.error
    )


def _since(started: float) -> float:
    return time.monotonic() - started
