"""One Autoscaler's loop from its first sight to its deletion: claim its target, wait for the
caches, resume from its status, evaluate every period while this replica leads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.apimachinery.group import API_VERSION
from podpilot.apimachinery.leader_election import STANDALONE_TERM, Term
from podpilot.autoscaler.api.result import EvaluationResult, Event
from podpilot.autoscaler.api.spec import AutoscalerSpec, SpecError, parse_spec
from podpilot.autoscaler.api.watched import WatchedAutoscaler
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import WriteNotAllowedError

from .autoscalers import AutoscalerLoops, ObjectKey, StopFlag
from .loop import AutoscalerLoop, Controller, claim_target, run_once, run_until_stopped
from .object_watches import ObjectWatches
from .wakeup import Wakeup

COMPONENT = "podpilot-autoscaler"
STANDBY_POLL_SECONDS = 1.0
"""How often the loop of a replica that is not the leader looks whether it has become one."""
EVENT_GRACE_SECONDS = 2.0
"""How long the stop lets the Events still being posted finish before it cancels them. Short:
a cancelled post's call still runs on in the client pool, whose drain waits for it; the grace
only lets an answer about to come be logged and counted."""
RESUME_AFTER_CONFLICT_SECONDS = 1.0
"""How long a loop whose status write met a conflict waits before it resumes."""
RESUME_RETRY_SECONDS = 5.0
"""How long a loop waits before it reads its Autoscaler again when the read it resumes from
failed (the apiserver unreachable): it does not act meanwhile."""

ReadAutoscaler = Callable[[tuple[str, str]], Awaitable[WatchedAutoscaler | None]]
"""One Autoscaler as stored now (a GET); None when it is gone."""

logger = logging.getLogger("podpilot.autoscaler")


@dataclass
class Runner:
    """What every loop shares; ``run`` is ``AutoscalerLoops.run``."""

    controller: Controller
    watches: ObjectWatches
    events: EventPoster
    term_for: Callable[[str, str], Term | None]
    """The term of the Lease that lets this replica act for an Autoscaler (the leader's, or
    its shard's); None when it may not."""
    loops: AutoscalerLoops | None = None  # set once the sink exists (it calls ``run``)
    read_autoscaler: ReadAutoscaler | None = None
    """What a loop resumes from (``_stored``); without it, the watch's copy."""
    resumed_at: Callable[[ObjectKey, str], None] | None = None
    """Told the resourceVersion each loop resumed from: its first status write names it."""
    unchanged_at: Callable[[ObjectKey, str], None] | None = None
    """Told a newer resourceVersion at which the status is still this loop's last write."""
    event_grace: float = EVENT_GRACE_SECONDS
    _posting: set[asyncio.Task[bool]] = field(default_factory=set)

    async def close(self) -> None:
        """Let the Events still being posted finish for ``event_grace`` seconds, then cancel
        the rest: no post outlives the stop. Called once the loops have ended (none posts)."""
        posting = list(self._posting)
        if not posting:
            return
        await asyncio.wait(posting, timeout=self.event_grace)
        for task in posting:
            task.cancel()
        await asyncio.gather(*posting, return_exceptions=True)

    async def run(self, key: ObjectKey, stopped: StopFlag) -> None:
        namespace, name = key
        controller = self.controller
        if not self.claim_target(key):
            return
        try:
            await self._evaluate_until_stopped(key, stopped)
        finally:
            controller.owners.release(namespace, name)  # also when cancelled
            controller.wakeups.release(namespace, name)
            controller.status.discard(key)
            controller.recorder.forget(namespace, name)

    async def _evaluate_until_stopped(self, key: ObjectKey, stopped: StopFlag) -> None:
        namespace, name = key
        controller = self.controller
        wakeup = controller.wakeups.register(namespace, name)
        await self.watches.synced()  # no decision on half-filled caches (pods, Deployments, HPAs)
        first = True
        while not stopped:
            term = self.term_for(namespace, name)
            if term is None:
                # Not the leader (nor its shard's holder): no evaluation at all (no metric
                # reads, no Events, no writes).
                await stopped.wait(STANDBY_POLL_SECONDS)
                continue
            # Leading (at start, or again after a standby spell): continue from what the last
            # holder stored, not from an older copy.
            try:
                autoscaler = await self._stored(key, term, first)
            except Exception as error:  # the read failed: no decision on a copy that may lag
                logger.warning(
                    "%s/%s: reading it to resume from failed, retrying in %gs: %s",
                    namespace, name, RESUME_RETRY_SECONDS, error,
                )  # fmt: skip
                await stopped.wait(RESUME_RETRY_SECONDS)
                continue
            if autoscaler is None:
                if self._current(key) is None:
                    return  # deleted: the sink stops this loop
                # Gone before the watch said so: the watch's DELETE stops this loop soon.
                await stopped.wait(RESUME_RETRY_SECONDS)
                continue
            first = False
            await self._evaluate_in_term(key, term, autoscaler, wakeup, stopped)

    async def _evaluate_in_term(
        self,
        key: ObjectKey,
        term: Term,
        autoscaler: WatchedAutoscaler,
        wakeup: Wakeup,
        stopped: StopFlag,
    ) -> None:
        """Evaluate from ``autoscaler`` as stored until the loop ends: stopped, out of ``term``,
        or a status write that met a conflict (then the caller resumes from the stored one)."""
        namespace, name = key
        controller = self.controller
        loop = self._resumed(key, autoscaler)
        if self.resumed_at is not None:
            self.resumed_at(key, autoscaler.resource_version)  # its first write names it
        # Everything this loop writes, and the loop itself, last only as long as the term:
        # a Lease lost and taken back within one period (another holder may have scaled
        # meanwhile) ends the loop like a loss does, and it resumes from the status.
        may_act = partial(self._in_term, namespace, name, term)

        async def evaluate_once() -> tuple[AutoscalerSpec | None, EvaluationResult | None]:
            autoscaler = self._current(key)
            if autoscaler is None:  # deleted: the sink stops this loop
                return None, None
            self._note_unchanged_status(key, loop, autoscaler)
            wakeup.evaluating(autoscaler.generation)
            about = ObjectRef(API_VERSION, "Autoscaler", name, namespace, autoscaler.uid)
            return await run_once(
                loop,
                controller,
                autoscaler.spec,
                autoscaler.generation,
                self.watches.objects,
                lambda event: self._post(about, event, may_act),
                logger,
                autoscaler.annotations,
                may_act,
            )

        await run_until_stopped(
            loop, controller, evaluate_once, stopped, logger, keep_going=may_act, wakeup=wakeup
        )
        # A status still queued is dropped (its write is refused anyway: it was queued in
        # the old term, or met a conflict).
        controller.status.discard(key)
        if may_act():
            # Still acting: a status write met a conflict (the Autoscaler changed under
            # it). Resumed from the stored one, not at once: an object edited without
            # pause must not turn the period into a stream of reads and evaluations.
            await stopped.wait(RESUME_AFTER_CONFLICT_SECONDS)
            return
        # No longer acting for it (a fence, a lost shard): its series go with the right to
        # act, so only the replica evaluating an Autoscaler exposes it (the alerts need no
        # join with podpilot_leader, which a shard's holder need not be).
        controller.recorder.forget(namespace, name)

    def _note_unchanged_status(
        self, key: ObjectKey, loop: AutoscalerLoop, autoscaler: WatchedAutoscaler
    ) -> None:
        """The watch shows the status this loop last wrote, at a newer version (a spec edit,
        the reason of most wake-ups): the status writer names that version, so the edit costs
        no conflict, no wasted evaluation and no second read."""
        written = loop.written
        if (
            self.unchanged_at is not None
            and written is not None
            and autoscaler.status_digest == written.digest
        ):
            self.unchanged_at(key, autoscaler.resource_version)

    def _in_term(self, namespace: str, name: str, term: Term) -> bool:
        return self.term_for(namespace, name) == term

    def claim_target(self, key: ObjectKey) -> bool:
        """Claim the Autoscaler's target as the watch shows it: before the wait (the loops of a
        starting operator all wait for the caches, so each one's first decision already knows
        the others' targets), and again on each new generation, on every replica, also those
        that do not evaluate it (another shard's). False: the Autoscaler is gone.

        The object is not kept: held for the loop's lifetime, it was a second copy of every
        Autoscaler (about 9 KB each) beside the watch's current one."""
        current = self._current(key)
        if current is None:
            return False
        with contextlib.suppress(SpecError):  # run_once reports it
            claim_target(self.controller.owners, *key, parse_spec(current.spec))
        return True

    def _current(self, key: ObjectKey) -> WatchedAutoscaler | None:
        return self.loops.current(key) if self.loops is not None else None

    async def _stored(self, key: ObjectKey, term: Term, first: bool) -> WatchedAutoscaler | None:
        """The Autoscaler to resume from. Another replica may have written its status up to
        the moment this term began, and the watch may not have delivered that write yet: a
        copy without the other's last scale event would let a step break its policy. So a
        loop reads the Autoscaler as stored, except the first loop of the only replica
        (standalone), which had nobody before it and whose watch listed after it started."""
        if self.read_autoscaler is None or (first and term == STANDALONE_TERM):
            return self._current(key)
        return await self.read_autoscaler(key)

    def _resumed(self, key: ObjectKey, autoscaler: WatchedAutoscaler) -> AutoscalerLoop:
        return AutoscalerLoop.resume(
            *key,
            autoscaler.status,
            time.time(),
            autoscaler.status_digest,
            self.controller.status_heartbeat,
        )

    async def _post_in_term(self, spec: EventSpec, may_act: Callable[[], bool]) -> bool:
        """Post unless fenced by the time the request goes out (asked in the pool's thread)."""
        try:
            return await self.events.post(spec, datetime.now(UTC), may_write=may_act)
        except WriteNotAllowedError:
            return False  # the leader reports for itself

    def _post(self, about: ObjectRef, event: Event, may_act: Callable[[], bool]) -> None:
        if not may_act():
            return  # fenced during this evaluation: the leader reports for itself
        # Not awaited: an Event must never hold up an evaluation (the poster bounds and logs it).
        spec = EventSpec(about, event.type, event.reason, event.message, COMPONENT)
        task = asyncio.create_task(self._post_in_term(spec, may_act))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)
