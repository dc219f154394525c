"""Single-flight reads: one request per key at a time, its result shared while fresh enough.

Concurrent callers of the same key wait for the one request in flight (and share its error);
a result is reused while it is younger than the age the caller accepts, which is never more
than the reader's own ``max_age``. Generic async code: it knows nothing of what is read.

The request runs as its own task, never inside the caller that started it, and every caller
(the first one too) waits for it through ``asyncio.shield``: a caller that is cancelled (an
Autoscaler deleted during a slow read) stops only its own wait, and the others still get the
value or the error. A request nobody waits for any more is cancelled rather than left to
finish: it would be of use only to a caller arriving within its freshness window, and a hung
read (metrics-server stopped) must not outlive every caller that wanted it. A new caller never
joins an abandoned request; it starts another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


@dataclass
class _Flight(Generic[Value]):
    """One request in flight and how many callers wait for it."""

    task: asyncio.Task[Value]
    waiters: int = 0


class SingleFlight(Generic[Key, Value]):
    """Reads ``fetch(key)`` at most once per ``max_age`` seconds per key, and never twice at
    once. With ``prune``, results older than ``max_age`` are dropped after each fetch (for
    keys that may never be asked again)."""

    def __init__(
        self,
        fetch: Callable[[Key], Awaitable[Value]],
        max_age: float,
        *,
        prune: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.max_age = max_age
        self._prune = prune
        self._clock = clock
        self._cache: dict[Key, tuple[float, Value]] = {}
        self._in_flight: dict[Key, _Flight[Value]] = {}
        # Every request task until it is done, abandoned ones included: the event loop keeps
        # only weak references to tasks.
        self._tasks: set[asyncio.Task[Value]] = set()

    async def read(self, key: Key, max_age: float | None = None) -> Value:
        """The value of ``key``, fetched or shared; ``max_age`` can only ask for a younger one."""
        limit = self.max_age if max_age is None else min(self.max_age, max_age)
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < limit:
            return cached[1]
        flight = self._in_flight.get(key)
        if flight is None:
            flight = self._start(key)
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                self._abandon(key, flight)

    def _start(self, key: Key) -> _Flight[Value]:
        task = asyncio.create_task(self._run(key), name=f"single-flight read of {key!r}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        flight = self._in_flight[key] = _Flight(task)
        return flight

    async def _run(self, key: Key) -> Value:
        try:
            value = await self._fetch(key)
        finally:
            flight = self._in_flight.get(key)
            if flight is not None and flight.task is asyncio.current_task():
                del self._in_flight[key]
        self._cache[key] = (self._clock(), value)
        if self._prune:
            self._forget_old()
        return value

    def _abandon(self, key: Key, flight: _Flight[Value]) -> None:
        if self._in_flight.get(key) is flight:
            del self._in_flight[key]
        flight.task.cancel()

    def _finished(self, task: asyncio.Task[Value]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            # Retrieved here, so that an error nobody waited for (the request failed after
            # its last caller left) is not logged as "Task exception was never retrieved";
            # the callers still waiting re-raise it themselves.
            task.exception()

    def _forget_old(self) -> None:
        now = self._clock()
        for key in [k for k, (at, _) in self._cache.items() if now - at >= self.max_age]:
            del self._cache[key]


__all__ = ["SingleFlight"]
