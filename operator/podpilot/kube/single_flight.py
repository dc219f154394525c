"""Single-flight reads: one request per key at a time, its result shared while fresh enough.

Concurrent callers of the same key wait for the one request in flight (and share its error);
a result is reused while it is younger than the age the caller accepts, which is never more
than the reader's own ``max_age``. Generic async code: it knows nothing of what is read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


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
        self._in_flight: dict[Key, asyncio.Future[Value]] = {}

    async def read(self, key: Key, max_age: float | None = None) -> Value:
        """The value of ``key``, fetched or shared; ``max_age`` can only ask for a younger one."""
        limit = self.max_age if max_age is None else min(self.max_age, max_age)
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < limit:
            return cached[1]
        in_flight = self._in_flight.get(key)
        if in_flight is not None:
            return await asyncio.shield(in_flight)
        future: asyncio.Future[Value] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            value = await self._fetch(key)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            self._cache[key] = (self._clock(), value)
            if self._prune:
                self._forget_old()
            future.set_result(value)
            return value
        finally:
            del self._in_flight[key]

    def _forget_old(self) -> None:
        now = self._clock()
        for key in [k for k, (at, _) in self._cache.items() if now - at >= self.max_age]:
            del self._cache[key]


__all__ = ["SingleFlight"]
