"""Fetch kubelet Summaries, a bounded number at a time: at the kubelet's own endpoint
(``nodes/stats``, the default) or through the API server's node proxy (``nodes/proxy``, opt-in).

KWOK nodes are never dialled: their addresses are made up."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote

import urllib3

from podpilot.emptydir.engine.audit_policy import StatsSource
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.schedule import PollSchedule
from podpilot.emptydir.engine.summary import (
    NodeStatsState,
    NodeSummary,
    SummaryDecodeError,
    decode_summary,
)
from podpilot.kube.clients import (
    ApiClients,
    Timeouts,
    bearer_header,
    send_through_pool,
    timed_out,
)
from podpilot.kube.http_deadline import guard_pools
from podpilot.kube.kubelet import SUMMARY_PATH, KubeletClient, KubeletError, read_summary_within
from podpilot.settings import KubeletSettings

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 10.0
KWOK_ERROR = "KWOK node (kwok.x-k8s.io/node=fake): no kubelet, no Summary endpoint"
NO_ADDRESS_ERROR = "the Node lists no InternalIP that is an IP address to reach its kubelet at"
MAX_POLLS_AT_ONCE = 8
"""Polls in flight at once, whatever ``polling.maxConcurrent`` asks: each holds a thread of the
shared API pool (``ApiClients.call``, 16 threads) while it reads, so other calls keep at least
half of it; it also bounds the bodies held before decoding to 8 times ``MAX_SUMMARY_BYTES``."""

# One thread: decoding a large body costs many times its size, so two never decode at once.
_DECODER = ThreadPoolExecutor(1, thread_name_prefix="podpilot-summary-decode")


@dataclass(frozen=True)
class PollResult:
    """The outcome of one node's poll.

    Attributes:
        node: Node name.
        outcome: ``ok``, ``forbidden``, ``timeout``, ``tls``, ``error``, ``decode`` or
            ``skipped`` (the metric label).
        summary: The parsed Summary when ``outcome == "ok"``.
        error: A short description otherwise.
        seconds: Request duration, or ``None`` when no request was sent.
    """

    node: str
    outcome: str
    summary: NodeSummary | None = None
    error: str | None = None
    seconds: float | None = None


Fetch = Callable[[NodeInfo], Awaitable[bytes]]


@dataclass(frozen=True)
class Fetchers:
    """One fetch per ``spec.polling.source``; the policy picks one each cycle."""

    kubelet_direct: Fetch
    apiserver_proxy: Fetch

    def of(self, source: StatsSource) -> Fetch:
        if source is StatsSource.APISERVER_PROXY:
            return self.apiserver_proxy
        return self.kubelet_direct


def fetchers(
    api: ApiClients, tls: KubeletSettings, timeout: float = REQUEST_TIMEOUT_SECONDS
) -> Fetchers:
    return Fetchers(direct_fetcher(api, tls, timeout), proxy_fetcher(api, timeout))


def direct_fetcher(
    api: ApiClients, tls: KubeletSettings, timeout: float = REQUEST_TIMEOUT_SECONDS
) -> Fetch:
    """Read ``https://InternalIP:kubeletPort/stats/summary`` in the client pool (nodes/stats
    get), verifying the kubelet's certificate as ``tls`` says."""
    client = KubeletClient(api.kubernetes.configuration, tls, Timeouts.reading(timeout))

    async def fetch(node: NodeInfo) -> bytes:
        if node.kubelet_address is None:
            raise KubeletError("error", NO_ADDRESS_ERROR)
        return await api.call(client.summary, node.kubelet_address, node.kubelet_port)

    return fetch


def proxy_fetcher(api: ApiClients, timeout: float = REQUEST_TIMEOUT_SECONDS) -> Fetch:
    """Read ``/api/v1/nodes/{node}/proxy/stats/summary`` in the client pool (nodes/proxy get),
    through the official client's connections and credentials, bounded as the direct read is:
    the API server treats nodes/proxy as long-running, so it sets no deadline of its own and
    passes on a trickling or endless answer (the client's generated method would read an error
    answer whole)."""
    client = api.kubernetes
    guard_pools(client.rest_client.pool_manager)  # ``podpilot``'s own clients come guarded
    bounds = urllib3.Timeout(connect=min(api.timeouts.connect, timeout), read=timeout)

    def get(node: str) -> bytes:
        authorization = bearer_header(client.configuration)  # its wait is not the kubelet's
        return read_summary_within(
            lambda: send_through_pool(
                client,
                "GET",
                f"/api/v1/nodes/{quote(node, safe='')}/proxy{SUMMARY_PATH}",
                {"Accept": "application/json"},
                authorization=authorization,
                answers_for_the_token=False,  # a kubelet's 401, relayed, says nothing of it
                timeout=bounds,
                retries=False,  # one request within the deadline
                preload_content=False,
                redirect=False,
            ),
            f"the kubelet of node {node} (API server proxy)",
            timeout,
        )

    async def fetch(node: NodeInfo) -> bytes:
        return await api.call(get, node.facts.name)

    return fetch


async def poll_node(fetch: Fetch, node: NodeInfo) -> PollResult:
    """Poll one node; every failure becomes an outcome, never an exception (a cancellation
    still propagates)."""
    name = node.facts.name
    if node.kwok:
        return PollResult(name, "skipped", error=KWOK_ERROR)
    started = time.monotonic()
    try:
        return await _fetch_and_decode(fetch, node, started)
    except Exception as error:  # a failure nothing foresaw is this node's, not the cycle's
        logger.exception("Summary poll of node %s failed unexpectedly", name)
        return PollResult(
            name,
            "error",
            error=f"unexpected {type(error).__name__}, see the log",
            seconds=_since(started),
        )


async def _fetch_and_decode(fetch: Fetch, node: NodeInfo, started: float) -> PollResult:
    name = node.facts.name
    try:
        body = await fetch(node)
    except KubeletError as error:
        return PollResult(name, error.outcome, error=str(error), seconds=_since(started))
    except (urllib3.exceptions.HTTPError, OSError) as error:
        if timed_out(error):  # also when urllib3 wraps it
            return PollResult(name, "timeout", error=f"timeout: {error}", seconds=_since(started))
        return PollResult(
            name, "error", error=f"{type(error).__name__}: {error}", seconds=_since(started)
        )
    seconds = _since(started)
    try:
        summary = await decode_off_the_loop(body)
    except SummaryDecodeError as error:
        return PollResult(name, "decode", error=str(error), seconds=seconds)
    return PollResult(name, "ok", summary=summary, seconds=seconds)


async def decode_off_the_loop(body: bytes) -> NodeSummary:
    """``decode_summary`` in the decoding thread, one body at a time.

    The C JSON decoder holds the GIL, so the loop still waits out the decoding itself (about
    0.6 s for a hostile body of ``MAX_SUMMARY_BYTES``); the parsing after it does not block.
    """
    return await asyncio.get_running_loop().run_in_executor(_DECODER, decode_summary, body)


async def poll_due(
    fetch: Fetch,
    nodes: Mapping[str, NodeInfo],
    schedule: PollSchedule,
    interval: float,
    max_concurrent: int,
) -> list[PollResult]:
    """Poll every node that is due, at most ``max_concurrent`` (and ``MAX_POLLS_AT_ONCE``) at a
    time; reschedule each."""
    schedule.sync(nodes, time.monotonic())
    due = [nodes[n] for n in schedule.due(time.monotonic())]
    gate = asyncio.Semaphore(min(max_concurrent, MAX_POLLS_AT_ONCE))

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
