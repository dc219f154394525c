"""The Lease loop against a real HTTP server on 127.0.0.1 that keeps one Lease like the
apiserver does (resourceVersion, 404, 409) and can black-hole one replica's requests.

Short durations (2.4 s lease, 1.6 s renew deadline, 0.4 s retry period) keep each test to a
few seconds; a sampler checks every 10 ms that two replicas never lead at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import kubernetes
import pykube
import pytest

from podpilot.apimachinery.leader_election import ElectionConfig
from podpilot.kube.clients import ApiClients
from podpilot.kube.lease import LeaderElector, LeaseLock, OneCallAtATime

# Short, but not so short that a loaded 2-core machine (a CI run beside other work) misses a
# renewal: the fence would then be right, and the test wrong.
CONFIG = ElectionConfig(lease_duration=2.4, renew_deadline=1.6, retry_period=0.4)
LEASES = re.compile(
    r"^/apis/coordination\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/leases(/(?P<name>[^/?]+))?"
)
REPLICA_HEADER = "X-Test-Replica"
HANG_LIMIT = 5.0  # a black-holed request is never answered, but its handler ends by itself


class FakeLeases:
    """The apiserver's side of Leases: objects by (namespace, name), one resourceVersion."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.black_holed: set[str] = set()
        self.refused_writes: set[str] = set()  # their updates answered 503 at once
        self.stopping = threading.Event()
        self.writes: list[tuple[str, str]] = []  # (replica, holderIdentity) of accepted writes

    def store(self, key: tuple[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = body
        return body


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "reason": reason, "code": code}


def _handler(leases: FakeLeases) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            replica = self.headers.get(REPLICA_HEADER, "")
            length = int(self.headers.get("Content-Length") or 0)
            sent: dict[str, Any] = json.loads(self.rfile.read(length)) if length else {}
            if replica in leases.black_holed:
                leases.stopping.wait(HANG_LIMIT)  # accepted, never answered
                return
            match = LEASES.match(self.path)
            if match is None:
                self._answer(404, _status(404, "NotFound"))
                return
            namespace = match["ns"]
            if self.command == "GET" and not match["name"]:
                with leases.lock:
                    items = [body for (ns, _), body in leases.objects.items() if ns == namespace]
                self._answer(200, {"kind": "LeaseList", "metadata": {}, "items": items})
                return
            if self.command == "PUT" and replica in leases.refused_writes:
                self._answer(503, _status(503, "ServiceUnavailable"))
                return
            name = match["name"] or sent["metadata"]["name"]
            key = (namespace, name)
            with leases.lock:
                current = leases.objects.get(key)
                if self.command == "DELETE":
                    code, body = (
                        (200, leases.objects.pop(key))
                        if current
                        else (404, _status(404, "NotFound"))
                    )
                elif self.command == "GET":
                    code, body = (200, current) if current else (404, _status(404, "NotFound"))
                elif self.command == "POST":
                    if current:
                        code, body = 409, _status(409, "AlreadyExists")
                    else:
                        code, body = 201, leases.store(key, sent)
                        leases.writes.append((replica, sent["spec"].get("holderIdentity", "")))
                elif self.command == "PUT":
                    version = sent["metadata"].get("resourceVersion")
                    if current is None:
                        code, body = 404, _status(404, "NotFound")
                    elif version != current["metadata"]["resourceVersion"]:
                        code, body = 409, _status(409, "Conflict")
                    else:
                        code, body = 200, leases.store(key, sent)
                        leases.writes.append((replica, sent["spec"].get("holderIdentity", "")))
                else:
                    code, body = 405, _status(405, "MethodNotAllowed")
            self._answer(code, body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's names)

    return Handler


@contextmanager
def fake_apiserver() -> Iterator[tuple[FakeLeases, str]]:
    leases = FakeLeases()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(leases))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield leases, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        leases.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def clients(url: str, replica: str) -> ApiClients:
    configuration = kubernetes.client.Configuration()
    configuration.host = url
    return ApiClients(
        kubernetes=kubernetes.client.ApiClient(configuration, REPLICA_HEADER, replica),
        pykube=pykube.HTTPClient(pykube.KubeConfig.from_url(url)),
        pool=ThreadPoolExecutor(4, thread_name_prefix=f"test-{replica}"),
        status_pool=ThreadPoolExecutor(1),
        coordination=kubernetes.client.ApiClient(configuration, REPLICA_HEADER, replica),
        coordination_pool=ThreadPoolExecutor(4, thread_name_prefix=f"test-lease-{replica}"),
    )


@asynccontextmanager
async def replica(url: str, name: str) -> AsyncIterator[LeaderElector]:
    """A replica's elector, running until the block ends (or ``stop(elector)``)."""
    api = clients(url, name)
    lock = LeaseLock(api, "ops", "podpilot-leader", CONFIG)
    elector = LeaderElector(lock, name, CONFIG)
    RUNNING[elector] = asyncio.create_task(elector.run())
    try:
        yield elector
    finally:
        await stop(elector)
        api.close()


RUNNING: dict[LeaderElector, asyncio.Task[None]] = {}


async def stop(elector: LeaderElector) -> None:
    """Cancel the elector's loop, as the operator's shutdown does (a leader releases)."""
    task = RUNNING.pop(elector, None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Any, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@asynccontextmanager
async def never_two_leaders(*electors: LeaderElector) -> AsyncIterator[list[int]]:
    """Samples every 10 ms; fails the test if two electors lead at once."""
    overlaps: list[int] = []

    async def sample() -> None:
        while True:
            leading = [e.identity for e in electors if e.is_leader()]
            if len(leading) > 1:
                overlaps.append(len(leading))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(sample())
    try:
        yield overlaps
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert overlaps == [], "two replicas led at the same time"


def test_one_replica_leads_and_hands_over_on_a_clean_stop() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with replica(url, "a") as a:
                await until(a.is_leader, 2.0)
                async with replica(url, "b") as b, never_two_leaders(a, b):
                    await asyncio.sleep(3 * CONFIG.lease_duration)  # b never takes a live lease
                    assert a.is_leader() and a.leading.is_set() and not b.is_leader()
                    holder = leases.objects["ops", "podpilot-leader"]["spec"]["holderIdentity"]
                    assert holder == "a"
                    renewals = sum(1 for who, _ in leases.writes if who == "a")
                    assert renewals >= 3 * CONFIG.lease_duration / CONFIG.retry_period / 2
                    await stop(a)
                    # released with a 1 s lease: b takes it well before a whole lease duration
                    waited = await until(b.is_leader, CONFIG.lease_duration)
                    assert waited < 1.0 + 2 * CONFIG.retry_period
            spec = leases.objects["ops", "podpilot-leader"]["spec"]
            assert spec["leaseTransitions"] == 1 and spec["leaseDurationSeconds"] == 1

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_stop_with_a_write_unanswered_lets_the_lease_expire() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with replica(url, "a") as a:
                await until(a.is_leader, 2.0)
                async with replica(url, "b") as b, never_two_leaders(a, b):
                    a.let_expire_on_stop()
                    await stop(a)
                    assert not a.is_leader()
                    spec = leases.objects["ops", "podpilot-leader"]["spec"]
                    assert spec["holderIdentity"] == "a"
                    waited = await until(b.is_leader, 3 * CONFIG.lease_duration)
                    assert waited > CONFIG.lease_duration - CONFIG.retry_period

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_black_holed_leader_fences_itself_and_the_standby_takes_over() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with replica(url, "a") as a:
                await until(a.is_leader, 2.0)
                async with replica(url, "b") as b, never_two_leaders(a, b):
                    await asyncio.sleep(CONFIG.lease_duration)
                    leases.black_holed.add("a")
                    frozen_at = time.monotonic()
                    fenced = await until(lambda: not a.is_leader(), 2 * CONFIG.renew_deadline)
                    assert fenced <= CONFIG.renew_deadline + 0.2
                    await until(lambda: not a.leading.is_set(), 0.5)  # the Event follows
                    await until(b.is_leader, 2 * CONFIG.lease_duration)
                    took_over = time.monotonic() - frozen_at
                    assert took_over <= CONFIG.lease_duration + 2 * CONFIG.retry_period + 0.5
                    leases.black_holed.clear()  # a is reachable again: it must not come back
                    await asyncio.sleep(3 * CONFIG.lease_duration)
                    assert b.is_leader() and not a.is_leader()
                    after = leases.writes[leases.writes.index(("b", "b")) :]
                    assert ("a", "a") not in after

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_term_lasts_across_renewals_and_a_lease_taken_back_is_a_new_one() -> None:
    """A late renewal of a Lease nobody took keeps the term; a Lease lost to another holder
    and taken back, however fast, is another term (its loops end: what they remember may lack
    what the other holder did)."""

    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with replica(url, "a") as a:
                await until(a.is_leader, 2.0)
                first = a.term()
                assert first is not None
                await asyncio.sleep(3 * CONFIG.retry_period)  # renewals
                assert a.term() == first
                leases.black_holed.add("a")  # no renewal: fenced, and nobody takes over
                await until(lambda: a.term() is None, 2 * CONFIG.renew_deadline)
                leases.black_holed.clear()
                await until(a.is_leader, HANG_LIMIT + 2 * CONFIG.lease_duration)
                assert a.term() == first
                async with replica(url, "b") as b, never_two_leaders(a, b):
                    leases.black_holed.add("a")
                    await until(b.is_leader, HANG_LIMIT + 2 * CONFIG.lease_duration)
                    assert a.term() is None
                    leases.black_holed.clear()
                    await stop(b)  # b hands the Lease back; a takes it at its next attempt
                    await until(a.is_leader, HANG_LIMIT + 2 * CONFIG.lease_duration)
                second = a.term()
                assert second is not None and second != first
                assert second[0] == first[0] + 2  # to b, then back to a

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_holder_fenced_by_failed_renewals_keeps_the_margin_before_it_hands_back() -> None:
    """A Lease that is no longer this replica's to hold is handed back only after the margin
    a standby leaves (lease duration minus renew deadline) has passed since the fence, also
    when the fence came first from renewals that failed: writes sent just before the fence
    may still land, and the next holder must see them."""

    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            api = clients(url, "a")
            wanted = [True]
            lock = LeaseLock(api, "ops", "podpilot-leader", CONFIG)
            a = LeaderElector(lock, "a", CONFIG, wants=lambda: wanted[0])
            RUNNING[a] = asyncio.create_task(a.run())
            try:
                await until(a.is_leader, 2.0)
                leases.refused_writes.add("a")
                renewals = leases.writes.count(("a", "a"))
                last_renewal = time.monotonic()
                while a.is_leader():  # the last accepted renewal, as the server saw it
                    if leases.writes.count(("a", "a")) != renewals:
                        renewals, last_renewal = leases.writes.count(("a", "a")), time.monotonic()
                    await asyncio.sleep(0.01)
                wanted[0] = False  # fenced by the clock; now another replica's to hold
                leases.refused_writes.clear()
                await until(lambda: ("a", "") in leases.writes, 3 * CONFIG.lease_duration)
                handed_back = time.monotonic() - last_renewal
                # Fenced at most a renew deadline after its last renewal, then the margin.
                assert handed_back >= CONFIG.lease_duration - 0.1, handed_back
            finally:
                await stop(a)
                api.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_replicas_started_together_elect_exactly_one() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with (
                replica(url, "a") as a,
                replica(url, "b") as b,
                replica(url, "c") as c,
                never_two_leaders(a, b, c),
            ):
                await until(lambda: any(e.is_leader() for e in (a, b, c)), 2.0)
                await asyncio.sleep(2 * CONFIG.lease_duration)
                leaders = {e.identity for e in (a, b, c) if e.is_leader()}
                assert len(leaders) == 1
                holder = leases.objects["ops", "podpilot-leader"]["spec"]["holderIdentity"]
                assert {holder} == leaders

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_an_unreachable_apiserver_leaves_nobody_leading(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            leases.black_holed.add("a")
            async with replica(url, "a") as a:
                await until(a.attempted.is_set, 2 * CONFIG.renew_deadline)
                assert not a.is_leader() and not leases.objects

    asyncio.run(asyncio.wait_for(scenario(), 60))
    deadline = CONFIG.call_deadline
    assert f"reading Lease ops/podpilot-leader failed: no answer within {deadline:g} s" in (
        caplog.text
    )


def test_lease_calls_never_wait_for_the_shared_pool() -> None:
    """The evaluations' pool busy (here: shut down) does not hold up a Lease call: they run in
    the coordination pool, on a client of their own."""

    async def scenario() -> None:
        with fake_apiserver() as (_, url):
            api = clients(url, "a")
            api.pool.shutdown()
            api.status_pool.shutdown()
            elector = LeaderElector(LeaseLock(api, "ops", "podpilot-leader", CONFIG), "a", CONFIG)
            RUNNING[elector] = asyncio.create_task(elector.run())
            try:
                await until(elector.is_leader, 2.0)
            finally:
                await stop(elector)
                api.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


class AnsweredNow:
    """``ApiClients.coordinate`` whose call has already been answered when it is awaited."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def coordinate(self, function: Any, /, *args: object) -> asyncio.Future[str]:
        return self.answer


def test_a_stop_that_comes_as_a_lease_call_is_answered_is_not_lost() -> None:
    """The elector's task is cancelled at the stop; a Lease call answered in the same moment
    must not swallow that (Python 3.11's wait_for did: the elector then never stopped)."""

    async def scenario() -> None:
        clients = AnsweredNow()
        one = OneCallAtATime(cast(ApiClients, clients), 5.0, "Lease ops/podpilot-leader")
        caller = asyncio.create_task(one.run(print))
        await asyncio.sleep(0)  # the caller now waits for the answer
        clients.answer.set_result("renewed")
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_lease_edited_from_under_its_leader_stops_it_at_its_next_read() -> None:
    """``kubectl edit`` clearing the holder: the standby takes the free Lease at once; the old
    leader stops when it reads the Lease, not at its renew deadline (it would have acted beside
    the new leader until then). A deleted Lease is the same case in ``decide``'s tests."""

    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with replica(url, "a") as a:
                await until(a.is_leader, 2.0)
                async with replica(url, "b") as b, never_two_leaders(a, b):
                    await asyncio.sleep(0.5)
                    with leases.lock:
                        leases.refused_writes.add("a")  # a loses the race for the free Lease
                        key = ("ops", "podpilot-leader")
                        leases.objects[key]["spec"]["holderIdentity"] = ""
                        leases.store(key, leases.objects[key])
                    await until(b.is_leader, 2 * CONFIG.lease_duration)
                    leases.refused_writes.discard("a")
                    await asyncio.sleep(3 * CONFIG.retry_period)
                    assert b.is_leader() and not a.is_leader() and a.term() is None

    asyncio.run(asyncio.wait_for(scenario(), 60))
