"""Leader election on a ``coordination.k8s.io/v1`` Lease: the acquire/renew loop.

The decisions are pure (``apimachinery.leader_election``); this module reads and writes the
Lease and keeps the clock. Controllers ask :meth:`LeaderElector.is_leader` before they write:
it is computed from the monotonic clock at the moment of asking, so a renewal loop that is
stuck (a hung call, a starved event loop) fences the replica by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import kubernetes

from podpilot.apimachinery.leader_election import (
    ElectionConfig,
    ElectorState,
    LeaseRecord,
    Step,
    Term,
    decide,
    desired_record,
    is_leader,
    lease_body,
    names_another,
    record_from_lease,
    released_record,
    wait_before_next,
)
from podpilot.kube.clients import ApiClients

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_FOUND = 404
CONFLICT = 409
Clock = Callable[[], float]
WallClock = Callable[[], datetime]


def _wall_now() -> datetime:
    return datetime.now(UTC)


class LeaseCallBusyError(Exception):
    """A Lease call was given up on but its thread is still waiting for the apiserver."""


def _retrieve(call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()  # consumed: a call given up on must not log "never retrieved"


class LeaseCallTimeoutError(TimeoutError):
    """A Lease call was given up on at its deadline."""


class OneCallAtATime:
    """Blocking Lease calls in the coordination pool, one at a time, each given up after
    ``deadline``.

    The client retries a timed-out GET or PUT by itself (urllib3's default), so the request
    timeout alone does not bound a call; ``asyncio.timeout`` does. A call given up on still
    holds its pool thread until the client gives up too: no second call starts meanwhile, so
    a black-holed apiserver never ties up more than one thread of the pool per Lease.
    """

    def __init__(self, clients: ApiClients, deadline: float, what: str) -> None:
        self._clients = clients
        self._deadline = deadline
        self._what = what
        self._in_flight: asyncio.Future[Any] | None = None

    async def run(self, function: Callable[..., T], *args: object) -> T:
        if self._in_flight is not None and not self._in_flight.done():
            raise LeaseCallBusyError(f"an earlier call on {self._what} has not ended yet")
        call = asyncio.ensure_future(self._clients.coordinate(function, *args))
        call.add_done_callback(_retrieve)
        self._in_flight = call
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result of a
            # call that ends as the caller is cancelled, and the cancellation is lost.
            async with asyncio.timeout(self._deadline):
                result: T = await asyncio.shield(call)
        except TimeoutError:
            if call.done() and not call.cancelled() and isinstance(call.exception(), TimeoutError):
                raise  # the call's own error, not the deadline
            # Logged by the caller; a bare TimeoutError says nothing ("reading ... failed: ").
            raise LeaseCallTimeoutError(f"no answer within {self._deadline:g} s") from None
        return result

    async def settled(self) -> None:
        """Wait, at most one deadline, for a call given up on or cancelled to end."""
        call = self._in_flight
        if call is not None and not call.done():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._deadline):
                    await asyncio.shield(call)


class LeaseLock:
    """Get, create and update one Lease, each call bounded by the config's call deadline."""

    def __init__(
        self, clients: ApiClients, namespace: str, name: str, config: ElectionConfig
    ) -> None:
        self.namespace = namespace
        self.name = name
        self._api = kubernetes.client.CoordinationV1Api(clients.coordination)
        self._timeout = config.request_timeout()
        self._calls = OneCallAtATime(clients, config.call_deadline, self.describe())

    def describe(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    async def get(self) -> LeaseRecord | None:
        """The Lease's record; None when there is no Lease."""
        try:
            return await self._call(self._api.read_namespaced_lease, self.name, self.namespace)
        except kubernetes.client.ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise

    async def create(self, record: LeaseRecord) -> LeaseRecord | None:
        """Create the Lease holding ``record``; None when another replica created it first."""
        body = lease_body(self.namespace, self.name, record)
        return await self._write(self._api.create_namespaced_lease, self.namespace, body)

    async def update(self, record: LeaseRecord) -> LeaseRecord | None:
        """Replace the Lease with ``record`` at its resourceVersion; None on a conflict (the
        Lease changed since it was read: someone else wrote it)."""
        body = lease_body(self.namespace, self.name, record)
        return await self._write(
            self._api.replace_namespaced_lease, self.name, self.namespace, body
        )

    async def _write(self, method: Callable[..., Any], *args: object) -> LeaseRecord | None:
        try:
            return await self._call(method, *args)
        except kubernetes.client.ApiException as error:
            if error.status == CONFLICT:
                return None
            raise

    async def _call(self, method: Callable[..., Any], *args: object) -> LeaseRecord:
        return await self._calls.run(self._json, method, *args)

    async def settled(self) -> None:
        """Wait, at most one call deadline, for a call given up on or cancelled to end."""
        await self._calls.settled()

    def _json(self, method: Callable[..., Any], *args: object) -> LeaseRecord:
        response = method(*args, _preload_content=False, _request_timeout=self._timeout)
        try:
            return record_from_lease(json.loads(cast(Any, response).data))
        finally:
            cast(Any, response).release_conn()


class LeaderElector:
    """One replica's side of the election. Run :meth:`run` as a task; cancel it to stop (a
    leader then releases the Lease, so a standby takes over at its next attempt)."""

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        config: ElectionConfig,
        *,
        clock: Clock = time.monotonic,
        wall_clock: WallClock = _wall_now,
        wants: Callable[[], bool] = lambda: True,
    ) -> None:
        self.lock = lock
        self.identity = identity
        self.config = config
        self.leading = asyncio.Event()
        """Set while this replica leads; cleared on a fence (``is_leader`` is the authority:
        it does not wait for the loop to notice)."""
        self.attempted = asyncio.Event()
        """Set once the first attempt has ended, whatever its outcome."""
        self._clock = clock
        self._wall_clock = wall_clock
        self._wants = wants
        """Whether to hold the Lease at all (a shard that is another replica's: no)."""
        self._state = ElectorState()
        self._fence_timer: asyncio.TimerHandle | None = None
        self._hand_back_on_stop = True

    def is_leader(self) -> bool:
        state = self._state  # one read: the elector may replace it from another thread's view
        return is_leader(state, self.config, self._clock()) and not names_another(
            state, self.identity
        )

    def term(self) -> Term | None:
        """The term this replica leads in now; None while it does not lead. A loss and a
        regain, however quick, give another term: what was decided in the old one (memory of
        scale events, queued writes) may lack what another holder did meanwhile."""
        state = self._state  # one read: the elector may replace it from another thread's view
        leading = is_leader(state, self.config, self._clock())
        return state.term if leading and not names_another(state, self.identity) else None

    @property
    def state(self) -> ElectorState:
        return self._state

    async def run(self) -> None:
        try:
            while True:
                step = await self.attempt()
                self.attempted.set()
                await asyncio.sleep(wait_before_next(step, self.config, random.random()))
        except asyncio.CancelledError:
            await self.release()
            raise

    async def attempt(self) -> Step:
        """One round of client-go's tryAcquireOrRenew: read, decide, and write if we may."""
        try:
            record = await self.lock.get()
        except Exception as error:
            log.warning("reading %s failed: %s", self.lock.describe(), error)
            return self._fence_if_late()
        self._state = self._state.observed(record, self._clock())
        if not self._wants():
            if self._state.renewal_sent_at is not None:
                self._fence("it is another replica's to hold")
            await asyncio.sleep(self._late_writes_margin())
            await self._hand_back("it is another replica's to hold")
            return Step.STAND_BY
        step = self._fence_if_late()
        if step is Step.STAND_BY:
            return step
        observed = self._state.observation.record if self._state.observation else None
        desired = desired_record(observed, self.identity, self.config, self._wall_clock())
        sent_at = self._clock()
        try:
            if step is Step.CREATE:
                written = await self.lock.create(desired)
            else:
                written = await self.lock.update(desired)
        except Exception as error:
            log.warning("%s of %s failed: %s", step.value, self.lock.describe(), error)
            return self._fence_if_late()
        if written is None:
            # Someone else wrote the Lease since we read it: whatever it says now, it is not a
            # renewal of ours. Stop acting until a fresh read says otherwise.
            self._fence(f"{step.value} of {self.lock.describe()} lost to another writer")
            return Step.STAND_BY
        self._state = self._state.renewed(written, sent_at, self._clock())
        self._lead()
        return Step.RENEW

    def _late_writes_margin(self) -> float:
        """Seconds to hold the Lease, not acting, before handing it back: writes that passed
        the check just before the fence may still land, and the next holder resumes from what
        the watch shows. The margin a standby leaves when it takes over an expired Lease,
        counted from the fence (now, or when the last renewal sent ran out); 0 when the
        Lease does not name this replica."""
        state = self._state
        record = state.observation.record if state.observation else None
        last = state.last_sent_at
        if record is None or record.holder_identity != self.identity or last is None:
            return 0.0
        now = self._clock()
        fenced_at = min(now, last + self.config.renew_deadline)
        margin = self.config.lease_duration - self.config.renew_deadline
        return max(0.0, fenced_at + margin - now)

    def _fence_if_late(self) -> Step:
        step = decide(self._state, self.identity, self.config, self._clock())
        if step is Step.FENCE:
            if names_another(self._state, self.identity):
                self._fence(f"{self.lock.describe()} no longer names it")
            else:
                self._fence(
                    f"no renewal of {self.lock.describe()} within {self.config.renew_deadline:g}s"
                )
            step = decide(self._state, self.identity, self.config, self._clock())
        return step

    def _lead(self) -> None:
        if not self.leading.is_set():
            log.info("%s is the leader (%s)", self.identity, self.lock.describe())
            self.leading.set()
        if self._fence_timer is not None:
            self._fence_timer.cancel()
        self._fence_timer = asyncio.get_running_loop().call_later(
            self.config.renew_deadline, self._fence_if_late
        )

    def _fence(self, reason: str) -> None:
        if self._state.renewal_sent_at is not None or self.leading.is_set():
            log.warning("%s stops acting: %s", self.identity, reason)
        self._state = self._state.fenced()
        self.leading.clear()
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None

    def let_expire_on_stop(self) -> None:
        """At the stop, fence without handing the Lease back: a write of this replica's may
        still land, and the next holder then starts a whole lease duration after the last
        renewal, as after a crash, instead of at once."""
        self._hand_back_on_stop = False

    async def release(self) -> None:
        """Stop acting and, if we held the Lease, hand it back (bounded by the lock's request
        timeout; failures are logged: the Lease then simply expires)."""
        if self.is_leader() and self._hand_back_on_stop:
            await self._hand_back("it is stopping")
        else:
            self._fence("it is stopping")

    async def _hand_back(self, reason: str) -> None:
        """Stop acting, then write the Lease free if it names us (on condition of the
        resourceVersion read: a Lease taken meanwhile stays taken). A renewal still in flight
        (its attempt was cancelled) is waited for and the Lease read again, since it moves
        the resourceVersion."""
        observation = self._state.observation
        self._fence(reason)
        if observation is None or observation.record is None:
            return
        if observation.record.holder_identity != self.identity:
            return
        try:
            await self.lock.settled()
            record = await self.lock.get()
            if record is None or record.holder_identity != self.identity:
                return
            released = released_record(record, self._wall_clock())
            if await self.lock.update(released) is not None:
                log.info("%s released %s", self.identity, self.lock.describe())
        except Exception as error:
            log.warning("releasing %s failed (it expires instead): %s", self.lock.describe(), error)
