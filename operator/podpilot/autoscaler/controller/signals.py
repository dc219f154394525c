"""What ends an Autoscaler loop's wait between evaluations early: its stop flag, and a spec
change (``wakeup.py``).

Every running Autoscaler sleeps here most of the time, so a sleep is one future and one timer
handle. ``asyncio.wait`` over an ``Event.wait()`` task per flag cost two tasks, two events
(each with its deque of waiters) and their coroutines per sleeping loop: about 28 MB at 9,000
Autoscalers, and two task creations per Autoscaler and period.
"""

from __future__ import annotations

import asyncio


class Signal:
    """A flag whose setting ends every ``sleep_until`` waiting on it."""

    __slots__ = ("_set", "_sleepers")

    def __init__(self) -> None:
        self._set = False
        self._sleepers: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        for sleeper in self._sleepers:
            _wake(sleeper)

    def clear(self) -> None:
        self._set = False

    def attach(self, sleeper: asyncio.Future[None]) -> None:
        self._sleepers.append(sleeper)

    def detach(self, sleeper: asyncio.Future[None]) -> None:
        self._sleepers.remove(sleeper)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


async def sleep_until(timeout: float, *signals: Signal) -> None:
    """Sleep ``timeout`` seconds, or less: until one of ``signals`` is set (at once if one is)."""
    if any(signal.is_set() for signal in signals):
        return
    if timeout <= 0:
        await asyncio.sleep(0)  # a loop due at once still lets the other tasks run first
        return
    loop = asyncio.get_running_loop()
    sleeper: asyncio.Future[None] = loop.create_future()
    timer = loop.call_later(timeout, _wake, sleeper)
    for signal in signals:
        signal.attach(sleeper)
    try:
        await sleeper
    finally:
        timer.cancel()
        for signal in signals:
            signal.detach(sleeper)


class StopFlag:
    """Set once, when the loop must end (its Autoscaler was deleted, or the operator stops)."""

    __slots__ = ("signal",)

    def __init__(self) -> None:
        self.signal = Signal()

    def __bool__(self) -> bool:
        return self.signal.is_set()

    def set(self) -> None:
        self.signal.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the flag; whether it is set."""
        await sleep_until(timeout, self.signal)
        return self.signal.is_set()


__all__ = ["Signal", "StopFlag", "sleep_until"]
