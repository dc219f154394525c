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
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from podpilot.apimachinery.backoff import exponential_delay
from podpilot.autoscaler.api.watched import WatchedAutoscaler

from .signals import StopFlag
from .wakeup import Wakeups

ObjectKey = tuple[str, str]  # namespace, name
CANCELLATION_TIMEOUT = 10.0
"""Seconds a stopped loop may take to end its evaluation before it is cancelled."""
RESTART_SECONDS = 10.0
"""Seconds before a loop that ended with an error it did not survive is started again."""

logger = logging.getLogger("podpilot.autoscaler")


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
    under its name (a new uid) gets its new loop once the old one has ended.
    """

    run: RunLoop
    wakeups: Wakeups
    drop_kopf_finalizer: DropFinalizer
    may_act_for: Callable[[str, str], bool]
    claim_target: Callable[[ObjectKey], object] = lambda key: None
    """Called when a running loop's Autoscaler has a new generation: every replica, not only
    the one evaluating it, must know which target it now claims (``Runner.claim_target``)."""
    finalizer_retry_seconds: float = 5.0
    cancellation_timeout: float = CANCELLATION_TIMEOUT
    restart_seconds: float = RESTART_SECONDS
    _objects: dict[ObjectKey, WatchedAutoscaler] = field(default_factory=dict)
    _loops: dict[ObjectKey, _Loop] = field(default_factory=dict)
    _ending: dict[ObjectKey, _Loop] = field(default_factory=dict)
    _finalized: set[ObjectKey] = field(default_factory=set)  # still carrying kopf's finalizer
    _sweeper: asyncio.Task[None] | None = None
    _closed: bool = False

    def __len__(self) -> int:
        return len(self._loops)

    def current(self, key: ObjectKey) -> WatchedAutoscaler | None:
        """The Autoscaler as the watch last saw it; None once it is gone."""
        return self._objects.get(key)

    def put(self, key: ObjectKey, autoscaler: WatchedAutoscaler) -> None:
        previous = self._objects.get(key)
        self._objects[key] = autoscaler
        if autoscaler.has_kopf_finalizer:
            self._finalized.add(key)
            self._sweep_finalizers()
        else:
            self._finalized.discard(key)
        if autoscaler.deleting or (previous is not None and previous.uid != autoscaler.uid):
            self._stop(key)  # a new object under the name starts once the old loop ended
        elif key in self._loops:
            if previous is None or previous.generation != autoscaler.generation:
                self.claim_target(key)
            self.wakeups.spec_changed(*key, autoscaler.generation)
        else:
            self._start(key)

    def remove(self, key: ObjectKey) -> None:
        self._objects.pop(key, None)
        self._finalized.discard(key)
        self._stop(key)

    async def close(self) -> None:
        """Stop every loop: each may end its evaluation within ``cancellation_timeout``."""
        self._closed = True
        for key in list(self._loops):
            self._stop(key)
        ending = [loop.task for loop in self._ending.values()]
        if self._sweeper is not None:
            self._sweeper.cancel()
            ending.append(self._sweeper)
        if ending:
            await asyncio.wait(ending, timeout=self.cancellation_timeout)
        for task in ending:
            task.cancel()
        await asyncio.gather(*ending, return_exceptions=True)

    def _start(self, key: ObjectKey) -> None:
        autoscaler = self._objects.get(key)
        if self._closed or key in self._ending or key in self._loops:
            return  # an ending loop starts its successor when it is done (``_ended``)
        if autoscaler is None or autoscaler.deleting:
            return
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
        if self._loops.get(key) is loop:
            # Ended by itself, with an error it did not survive: started again a little later,
            # as long as its Autoscaler is there (no event may come to start it otherwise).
            del self._loops[key]
            error = None if loop.task.cancelled() else loop.task.exception()
            logger.error(
                "the loop of %s/%s ended; starting it again in %g s",
                *key,
                self.restart_seconds,
                exc_info=error,
            )
            asyncio.get_running_loop().call_later(self.restart_seconds, self._start, key)
            return
        if self._ending.get(key) is loop:
            del self._ending[key]
            self._start(key)  # created again under this name meanwhile

    def _sweep_finalizers(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            # Kept here until done: the event loop holds only a weak reference to a task.
            self._sweeper = asyncio.create_task(self._drop_finalizers(), name="kopf finalizers")

    async def _drop_finalizers(self) -> None:
        """Take kopf's old finalizer off every Autoscaler that has it, one at a time, for each
        one this replica may act for (also when it comes to lead without any new watch event),
        backing off while the patches fail."""
        failures = 0
        while self._finalized and not self._closed:
            failed = await self._drop_each_finalizer()
            failures = failures + 1 if failed else 0
            await asyncio.sleep(
                exponential_delay(failures + 1, self.finalizer_retry_seconds, 300.0)
            )

    async def _drop_each_finalizer(self) -> bool:
        """One pass; whether a patch failed (only the first failure of a pass is logged)."""
        failed = False
        for key in list(self._finalized):
            autoscaler = self._objects.get(key)
            if autoscaler is None or not autoscaler.has_kopf_finalizer:
                continue
            if not self.may_act_for(*key):
                continue
            try:
                await self.drop_kopf_finalizer(key, autoscaler)
                self._finalized.discard(key)  # a conflict leaves it for the next pass
            except Exception as error:
                if not failed:
                    logger.warning("kopf's finalizer not removed from %s/%s: %s", *key, error)
                failed = True
        return failed


__all__ = ["AutoscalerLoops", "StopFlag"]
