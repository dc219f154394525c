"""One evaluation loop per Autoscaler, started and stopped by the operator's own watch of the
Autoscalers (``kube.list_watch.ListWatch``), not by kopf.

A kopf daemon per Autoscaler cost, for every one of them, a record, the whole body, a task
with a chain of handler frames, and a finalizer (one patch to add and one to remove, each in
turn); and kopf ran every watch event, most of them the operator's own status writes, through
its handler machinery. Here the watch converts each event into a ``WatchedAutoscaler`` and this
sink starts a loop for an Autoscaler it sees first, wakes it on a new generation, and stops it
when the Autoscaler is deleted. A loop reads the latest object at the start of each evaluation,
as a kopf daemon read kopf's body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from podpilot.autoscaler.api.watched import WatchedAutoscaler

from .wakeup import Wakeups

ObjectKey = tuple[str, str]  # namespace, name
CANCELLATION_TIMEOUT = 10.0
"""Seconds a stopped loop may take to end its evaluation before it is cancelled."""

logger = logging.getLogger("podpilot.autoscaler")


class StopFlag:
    """Set once, when the loop must end (its Autoscaler was deleted, or the operator stops)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the flag; whether it is set."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        return self._event.is_set()


RunLoop = Callable[[ObjectKey, StopFlag], Coroutine[Any, Any, None]]
DropFinalizer = Callable[[ObjectKey, WatchedAutoscaler], Awaitable[None]]


@dataclass
class _Loop:
    task: asyncio.Task[None]
    stopped: StopFlag


@dataclass
class AutoscalerLoops:
    """The watch's sink: the Autoscalers as last seen, and the loop running for each.

    At most one loop per (namespace, name) at any time: an Autoscaler deleted and created again
    under its name gets its new loop once the old one has ended.
    """

    run: RunLoop
    wakeups: Wakeups
    drop_kopf_finalizer: DropFinalizer
    may_act: Callable[[], bool]
    finalizer_retry_seconds: float = 5.0
    cancellation_timeout: float = CANCELLATION_TIMEOUT
    _objects: dict[ObjectKey, WatchedAutoscaler] = field(default_factory=dict)
    _loops: dict[ObjectKey, _Loop] = field(default_factory=dict)
    _ending: dict[ObjectKey, _Loop] = field(default_factory=dict)
    _dropping: dict[ObjectKey, asyncio.Task[None]] = field(default_factory=dict)
    _closed: bool = False

    def __len__(self) -> int:
        return len(self._loops)

    def current(self, key: ObjectKey) -> WatchedAutoscaler | None:
        """The Autoscaler as the watch last saw it; None once it is gone."""
        return self._objects.get(key)

    def put(self, key: ObjectKey, autoscaler: WatchedAutoscaler) -> None:
        self._objects[key] = autoscaler
        if autoscaler.has_kopf_finalizer:
            self._drop_finalizer(key)
        if autoscaler.deleting:
            self._stop(key)
        elif key in self._loops:
            self.wakeups.spec_changed(*key, autoscaler.generation)
        else:
            self._start(key)

    def remove(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)
        self._stop(key)

    async def close(self) -> None:
        """Stop every loop: each may end its evaluation within ``cancellation_timeout``."""
        self._closed = True
        for key in list(self._loops):
            self._stop(key)
        ending = [loop.task for loop in self._ending.values()]
        if ending:
            await asyncio.wait(ending, timeout=self.cancellation_timeout)
        for task in ending:
            task.cancel()
        await asyncio.gather(*ending, return_exceptions=True)

    def _start(self, key: ObjectKey) -> None:
        if self._closed or key in self._ending:
            return  # the ending loop starts its successor when it is done (``_ended``)
        stopped = StopFlag()
        namespace, name = key
        task = asyncio.create_task(self.run(key, stopped), name=f"autoscaler {namespace}/{name}")
        loop = self._loops[key] = _Loop(task, stopped)
        task.add_done_callback(lambda _: self._ended(key, loop))

    def _stop(self, key: ObjectKey) -> None:
        loop = self._loops.pop(key, None)
        if loop is None:
            return
        loop.stopped.set()
        self._ending[key] = loop
        asyncio.get_running_loop().call_later(self.cancellation_timeout, loop.task.cancel)

    def _ended(self, key: ObjectKey, loop: _Loop) -> None:
        if not loop.task.cancelled() and loop.task.exception() is not None:
            logger.error("the loop of %s/%s ended", *key, exc_info=loop.task.exception())
        if self._loops.get(key) is loop:
            # Ended by itself, with an error it did not survive: the next watch event of its
            # Autoscaler starts it again.
            del self._loops[key]
            return
        if self._ending.get(key) is loop:
            del self._ending[key]
            successor = self._objects.get(key)  # created again under this name meanwhile
            if successor is not None and not successor.deleting:
                self._start(key)

    def _drop_finalizer(self, key: ObjectKey) -> None:
        """Take kopf's old finalizer off, once at a time per Autoscaler, by the leader only."""
        if key in self._dropping or not self.may_act():
            return
        # Kept until done: the event loop holds only a weak reference to a task.
        task = self._dropping[key] = asyncio.create_task(self._drop_finalizer_of(key))
        task.add_done_callback(lambda _: self._dropping.pop(key, None))

    async def _drop_finalizer_of(self, key: ObjectKey) -> None:
        while not self._closed:
            autoscaler = self._objects.get(key)
            if autoscaler is None or not autoscaler.has_kopf_finalizer or not self.may_act():
                return
            try:
                await self.drop_kopf_finalizer(key, autoscaler)
                return
            except Exception as error:  # a conflict, a timeout: try again on what is newer
                logger.warning("kopf's finalizer not removed from %s/%s: %s", *key, error)
            await asyncio.sleep(self.finalizer_retry_seconds)


__all__ = ["AutoscalerLoops", "StopFlag"]
