"""Writes that only need their newest value persisted, a few at a time, one per object.

A status is complete: the newest render of an object includes everything an older one said,
so a queued older value can be replaced by a newer one without losing anything. Whoever
submitted the older value is answered when the newer one is written.

Each value carries whether it may still be written (``MayWrite``), asked by the writer right
before it sends: a value queued by a replica that has since stopped acting is refused, also
when the replica acts again by the time the value's turn comes (a newer value carries its own).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from podpilot.kube.fencing import MayWrite, always

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _mark_retrieved(future: asyncio.Future[None]) -> None:
    # Most writes are not awaited; their failures are read by the next submitter or logged.
    if not future.cancelled():
        future.exception()


def _answer() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(_mark_retrieved)
    return future


class CoalescingWriter(Generic[K, V]):
    """At most ``concurrency`` writes at a time, never two for one key, newest value only.

    Keys are written in the order they were first queued: replacing a queued value keeps its
    place, so a busy object cannot push others back. A value someone waits for (``urgent``:
    the record of a rescale, written before the patch) goes ahead of the rest: behind a
    start-up's thousands of first statuses it waited past the evaluation's deadline.
    """

    def __init__(
        self, write: Callable[[K, V, MayWrite], Awaitable[None]], concurrency: int
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._write = write
        self._concurrency = concurrency
        self._pending: dict[K, tuple[V, MayWrite, asyncio.Future[None]]] = {}
        self._ready: deque[K] = deque()
        self._urgent: deque[K] = deque()  # ready, and written before ``_ready``
        self._in_flight: set[K] = set()
        self._urgent_after_flight: set[K] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(
        self, key: K, value: V, *, urgent: bool = False, may_write: MayWrite = always
    ) -> asyncio.Future[None]:
        """Queue ``value`` for ``key``; the future ends when it (or a newer one) is written.
        ``urgent``: written before every value that is not. ``may_write`` goes to the writer
        with the value."""
        queued = self._pending.get(key)
        if queued is not None:
            # A waiter that gave up (an evaluation cut at its deadline) cancelled the queued
            # future; the value keeps its place, but the next submitter needs a live answer.
            future = queued[2] if not queued[2].done() else _answer()
            self._pending[key] = (value, may_write, future)
            if urgent and key in self._ready:
                self._ready.remove(key)
                self._urgent.append(key)
            elif urgent and key in self._in_flight:
                self._urgent_after_flight.add(key)
            return future
        future = _answer()
        self._pending[key] = (value, may_write, future)
        if key not in self._in_flight:
            (self._urgent if urgent else self._ready).append(key)
        elif urgent:
            self._urgent_after_flight.add(key)
        self._start()
        return future

    def discard(self, key: K) -> None:
        """Forget what is queued for ``key`` (the object is gone); a write already in flight is
        not cancelled: it runs to its end."""
        queued = self._pending.pop(key, None)
        if queued is not None:
            queued[2].cancel()
            for ready in (self._ready, self._urgent):
                if key in ready:
                    ready.remove(key)
            self._urgent_after_flight.discard(key)

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def close(self) -> None:
        """Cancel every write, queued or in flight."""
        for key in list(self._pending):
            self.discard(key)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self) -> None:
        while (self._urgent or self._ready) and len(self._in_flight) < self._concurrency:
            key = (self._urgent or self._ready).popleft()
            value, may_write, future = self._pending.pop(key)
            self._in_flight.add(key)
            task = asyncio.create_task(self._run(key, value, may_write, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self, key: K, value: V, may_write: MayWrite, future: asyncio.Future[None]
    ) -> None:
        try:
            await self._write(key, value, may_write)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:  # handed to whoever awaits the write
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(None)
        finally:
            self._in_flight.discard(key)
            if key in self._pending:
                urgent = key in self._urgent_after_flight
                self._urgent_after_flight.discard(key)
                (self._urgent if urgent else self._ready).append(key)
            self._start()


class EncodedWriter(Generic[K]):
    """A ``CoalescingWriter`` of JSON objects that holds each queued one as compact JSON, and
    hands the writer that JSON: it is sent as it is, not decoded and encoded again.

    After a start-up, thousands of first statuses wait for a writer; as parsed objects they
    took about six times the room (6 KB against 1 KB for a one-metric Autoscaler), and the
    memory of that peak was not given back.
    """

    def __init__(
        self, write: Callable[[K, bytes, MayWrite], Awaitable[None]], concurrency: int
    ) -> None:
        self._writer: CoalescingWriter[K, bytes] = CoalescingWriter(write, concurrency)

    def submit(
        self,
        key: K,
        value: Mapping[str, Any],
        *,
        urgent: bool = False,
        may_write: MayWrite = always,
    ) -> asyncio.Future[None]:
        encoded = json.dumps(value, separators=(",", ":")).encode()
        return self._writer.submit(key, encoded, urgent=urgent, may_write=may_write)

    def discard(self, key: K) -> None:
        self._writer.discard(key)

    @property
    def queued(self) -> int:
        return self._writer.queued

    @property
    def in_flight(self) -> int:
        return self._writer.in_flight

    async def close(self) -> None:
        await self._writer.close()
