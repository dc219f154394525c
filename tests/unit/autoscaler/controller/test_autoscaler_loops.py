"""The watch of Autoscalers starts one loop per Autoscaler, wakes it on a new generation, stops
it on deletion, starts the loop of one created again under the same name only after the old
loop ended, and takes kopf's old finalizer off (the leader only)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import Mock, create_autospec

import pytest

from podpilot.apimachinery.leader_election import STANDALONE_TERM
from podpilot.autoscaler.api.owners import OwnerIndex, ScaleTarget
from podpilot.autoscaler.api.watched import KOPF_FINALIZER, WatchedAutoscaler, watched_autoscaler
from podpilot.autoscaler.controller.autoscalers import AutoscalerLoops, ObjectKey, StopFlag
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.controller.runner import Runner
from podpilot.autoscaler.controller.wakeup import Wakeups

KEY = ("team", "web")
BOUND = 2.0  # seconds any step may take; each takes milliseconds


def autoscaler(
    generation: int = 1,
    *,
    deleting: bool = False,
    finalizers: tuple[str, ...] = (),
    uid: str = "uid-1",
) -> WatchedAutoscaler:
    metadata: dict[str, Any] = {
        "name": "web",
        "namespace": "team",
        "uid": uid,
        "generation": generation,
        "resourceVersion": str(100 + generation),
        "finalizers": list(finalizers),
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-03T00:00:00Z"
    return watched_autoscaler({"metadata": metadata, "spec": {"maxReplicas": 3}, "status": {}})


class Loops:
    """Loops that record their start and end, and end only when stopped (or when released,
    to play a loop slow to finish its evaluation)."""

    def __init__(self, ignore_stop: bool = False) -> None:
        self.started: list[ObjectKey] = []
        self.ended: list[ObjectKey] = []
        self.running = 0
        self.most_at_once = 0
        self.ignore_stop = ignore_stop
        self.release = asyncio.Event()

    async def run(self, key: ObjectKey, stopped: StopFlag) -> None:
        self.started.append(key)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.ignore_stop:
                await self.release.wait()
            else:
                while not await stopped.wait(60):
                    pass
        finally:
            self.running -= 1
            self.ended.append(key)


def sink(
    loops: Loops,
    wakeups: Wakeups | None = None,
    drop: Callable[[ObjectKey, WatchedAutoscaler], Awaitable[None]] | None = None,
    leading: Callable[[], bool] = lambda: True,
    cancellation_timeout: float = 10.0,
    restart_seconds: float = 10.0,
) -> AutoscalerLoops:
    return AutoscalerLoops(
        loops.run,
        wakeups or Wakeups(),
        drop or no_drop,
        lambda namespace, name: leading(),
        finalizer_retry_seconds=0.01,
        cancellation_timeout=cancellation_timeout,
        restart_seconds=restart_seconds,
    )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.001)


def test_an_autoscaler_seen_first_gets_its_loop_and_a_new_generation_wakes_it() -> None:
    async def scenario() -> None:
        loops, wakeups = Loops(), Wakeups()
        watched = sink(loops, wakeups)
        watched.put(KEY, autoscaler(1))
        await until(lambda: loops.started == [KEY])
        wakeup = wakeups.register(*KEY)
        wakeup.evaluating(1)
        watched.put(KEY, autoscaler(1))  # its own status write: the generation stays
        assert not wakeup.pending
        watched.put(KEY, autoscaler(2))
        assert wakeup.pending
        current = watched.current(KEY)
        assert current is not None and current.generation == 2  # what the next evaluation reads
        assert loops.started == [KEY] and len(watched) == 1  # still one loop
        await watched.close()
        assert loops.ended == [KEY]

    asyncio.run(scenario())


def test_deletion_stops_the_loop_and_forgets_the_autoscaler() -> None:
    async def scenario() -> None:
        loops = Loops()
        watched = sink(loops)
        watched.put(KEY, autoscaler(1))
        await until(lambda: loops.started == [KEY])
        watched.put(KEY, autoscaler(1, deleting=True))  # another finalizer holds it
        await until(lambda: loops.ended == [KEY])
        watched.remove(KEY)
        assert watched.current(KEY) is None and len(watched) == 0
        watched.remove(KEY)  # a second DELETED, or one after a relist: nothing more happens
        await watched.close()
        assert loops.started == [KEY] and loops.ended == [KEY]

    asyncio.run(scenario())


def test_an_autoscaler_created_again_waits_for_the_old_loop_to_end() -> None:
    async def scenario() -> None:
        loops = Loops(ignore_stop=True)  # the old loop is still in an evaluation
        watched = sink(loops)
        watched.put(KEY, autoscaler(1))
        await until(lambda: loops.started == [KEY])
        watched.remove(KEY)
        watched.put(KEY, autoscaler(1))  # the new object, same name
        await asyncio.sleep(0.05)
        assert loops.started == [KEY]  # not two loops for one name
        loops.ignore_stop = False
        loops.release.set()
        await until(lambda: len(loops.started) == 2)
        assert loops.most_at_once == 1
        await watched.close()

    asyncio.run(scenario())


def test_a_loop_that_does_not_end_when_stopped_is_cancelled_after_the_timeout() -> None:
    async def scenario() -> None:
        loops = Loops(ignore_stop=True)
        watched = sink(loops, cancellation_timeout=0.05)
        watched.put(KEY, autoscaler(1))
        await until(lambda: loops.started == [KEY])
        watched.remove(KEY)
        await until(lambda: loops.ended == [KEY])
        await watched.close()

    asyncio.run(scenario())


def test_a_new_object_under_the_name_gets_a_new_loop_once_the_old_one_ended() -> None:
    """A relist after 410 Gone may show an Autoscaler deleted and created again as a mere
    change: its uid tells it apart, and the old loop's memory is not carried over."""

    async def scenario() -> None:
        loops = Loops()
        watched = sink(loops)
        watched.put(KEY, autoscaler(1, uid="first"))
        await until(lambda: loops.started == [KEY])
        watched.put(KEY, autoscaler(1, uid="second"))
        await until(lambda: len(loops.started) == 2)
        assert loops.ended == [KEY] and loops.most_at_once == 1
        await watched.close()

    asyncio.run(scenario())


def test_a_loop_that_ends_with_an_error_is_started_again() -> None:
    async def scenario() -> None:
        runs: list[ObjectKey] = []

        async def fails_once(key: ObjectKey, stopped: StopFlag) -> None:
            runs.append(key)
            if len(runs) == 1:
                raise ValueError("status not understood")
            await stopped.wait(60)

        watched = AutoscalerLoops(
            fails_once, Wakeups(), no_drop, lambda namespace, name: True, restart_seconds=0.01
        )
        watched.put(KEY, autoscaler(1))
        await until(lambda: len(runs) == 2)
        assert len(watched) == 1
        await watched.close()

    asyncio.run(scenario())


async def no_drop(key: ObjectKey, found: WatchedAutoscaler) -> None:
    raise AssertionError("no finalizer to drop")


def test_the_leader_takes_kopfs_old_finalizer_off_and_a_standby_does_not() -> None:
    async def scenario() -> None:
        dropped: list[tuple[ObjectKey, tuple[str, ...], str]] = []
        attempts = 0

        async def drop(key: ObjectKey, found: WatchedAutoscaler) -> None:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise RuntimeError("409 Conflict")  # tried again on the object as now seen
            metadata = found.kopf_finalizer_removal()["metadata"]
            dropped.append((key, tuple(metadata["finalizers"]), metadata["resourceVersion"]))

        leading = False
        loops = Loops()
        watched = sink(loops, drop=drop, leading=lambda: leading)
        held = autoscaler(1, finalizers=("example.com/keep", KOPF_FINALIZER))
        watched.put(KEY, held)
        await asyncio.sleep(0.05)
        assert attempts == 0  # a standby writes nothing
        leading = True  # no new event: the leader finds it among those it knows
        await until(lambda: len(dropped) == 1)
        assert dropped == [(KEY, ("example.com/keep",), "101")]
        watched.put(KEY, autoscaler(1))  # the watch shows it without the finalizer
        await asyncio.sleep(0.05)
        assert len(dropped) == 1
        await watched.close()

    asyncio.run(scenario())


def test_a_fenced_replica_drops_its_series_and_queued_status_and_resumes_from_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from podpilot.autoscaler.controller import runner as runner_module

    resumed_from: list[int] = []
    leading = True

    async def lead_until_fenced(loop: AutoscalerLoop, *args: object, **kwargs: object) -> None:
        nonlocal leading
        resumed_from.append(loop.memory.last_replicas)
        leading = False  # fenced: run_until_stopped returns, as when keep_going says no

    async def synced() -> None:
        return None

    monkeypatch.setattr(runner_module, "run_until_stopped", lead_until_fenced)
    monkeypatch.setattr(runner_module, "STANDBY_POLL_SECONDS", 0.001)

    async def scenario() -> None:
        nonlocal leading
        controller = create_autospec(Controller, instance=True)
        controller.owners, controller.wakeups = OwnerIndex(), Wakeups()
        controller.recorder = create_autospec(Recorder, instance=True)
        controller.status = Mock()
        watches = SimpleNamespace(synced=synced, objects=None)
        runner = Runner(
            controller,
            cast(Any, watches),
            cast(Any, None),
            lambda namespace, name: (1, None) if leading else None,
        )
        watched = AutoscalerLoops(
            runner.run, controller.wakeups, no_drop, lambda namespace, name: leading
        )
        runner.loops = watched
        watched.put(KEY, with_status(autoscaler(1), currentReplicas=3))
        await until(lambda: resumed_from == [3])
        # Fenced: its series go (only the replica acting for an Autoscaler exposes them),
        # and so does a status still queued (rendered before the fence, it must not go out
        # over the other leader's should this replica lead again before it is sent).
        await until(lambda: controller.recorder.forget.call_count == 1)
        controller.recorder.forget.assert_called_with(*KEY)
        controller.status.discard.assert_called_with(KEY)
        watched.put(KEY, with_status(autoscaler(1), currentReplicas=5))  # the other leader's
        leading = True
        await until(lambda: resumed_from == [3, 5])
        await watched.close()

    asyncio.run(scenario())


def test_a_lease_lost_and_taken_back_within_a_period_ends_the_loop_and_it_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runner sees no moment without the Lease (lost and taken back between two of its
    looks), yet the term changed: the loop may act no more (its writes, Events and next
    evaluation), and the next resumes from the status the other holder wrote."""
    from podpilot.autoscaler.controller import runner as runner_module

    resumed_from: list[int] = []
    acting_after_the_change: list[bool] = []
    term: tuple[int, None] | None = (1, None)
    evaluations_may_write: list[Callable[[], bool]] = []

    async def evaluation(*args: object) -> tuple[None, None]:
        evaluations_may_write.append(cast(Callable[[], bool], args[-1]))
        return None, None

    async def evaluate_until_the_term_changes(
        loop: AutoscalerLoop,
        controller: object,
        evaluate_once: Callable[[], Awaitable[object]],
        *args: object,
        keep_going: Callable[[], bool],
        **kwargs: object,
    ) -> None:
        nonlocal term
        resumed_from.append(loop.memory.last_replicas)
        assert keep_going()
        if len(resumed_from) == 1:
            await evaluate_once()
            # Meanwhile another holder scaled to 5, and this replica took the Lease back.
            watched.put(KEY, with_status(autoscaler(1), currentReplicas=5))
            term = (3, None)
            # The loop, its evaluation's writes and /scale patch (run_once's may_write):
            acting_after_the_change.extend([keep_going(), evaluations_may_write[0]()])
        else:
            term = None  # then stands by until the test ends

    async def synced() -> None:
        return None

    monkeypatch.setattr(runner_module, "run_until_stopped", evaluate_until_the_term_changes)
    monkeypatch.setattr(runner_module, "run_once", evaluation)
    monkeypatch.setattr(runner_module, "STANDBY_POLL_SECONDS", 0.001)
    controller = create_autospec(Controller, instance=True)
    controller.owners, controller.wakeups = OwnerIndex(), Wakeups()
    controller.recorder = create_autospec(Recorder, instance=True)
    controller.status = Mock()
    watches = SimpleNamespace(synced=synced, objects=None)
    runner = Runner(controller, cast(Any, watches), cast(Any, None), lambda ns, name: term)
    watched = AutoscalerLoops(runner.run, controller.wakeups, no_drop, lambda ns, name: True)
    runner.loops = watched

    async def scenario() -> None:
        watched.put(KEY, with_status(autoscaler(1), currentReplicas=3))
        await until(lambda: resumed_from == [3, 5])
        await watched.close()

    asyncio.run(scenario())
    assert acting_after_the_change == [False, False]
    controller.status.discard.assert_called_with(KEY)


def with_status(found: WatchedAutoscaler, **status: Any) -> WatchedAutoscaler:
    stabilization = {"recommendations": [], "scaleUpEvents": [], "scaleDownEvents": []}
    encoded = json.dumps({"stabilization": stabilization, **status}).encode()
    return dataclasses.replace(found, encoded_status=encoded)


def test_a_replica_that_evaluates_neither_knows_both_claims_after_an_edit() -> None:
    """--shards: P and Q scale one Deployment and start in DryRun; both are switched to Active.
    The holder of each one's shard must see the other as an owner (then both refuse), so every
    replica follows each new generation's target and mode, not only the one evaluating it."""
    owners = OwnerIndex()
    controller = create_autospec(Controller, instance=True)
    controller.owners, controller.wakeups = owners, Wakeups()
    controller.recorder = create_autospec(Recorder, instance=True)
    controller.status = Mock()

    async def synced() -> None:
        return None

    watches = SimpleNamespace(synced=synced, objects=None)
    # This replica holds neither shard: its loops stand by and never evaluate.
    runner = Runner(controller, cast(Any, watches), cast(Any, None), lambda ns, name: None)
    watched = AutoscalerLoops(
        runner.run,
        controller.wakeups,
        no_drop,
        lambda ns, name: True,
        claim_target=runner.claim_target,
    )
    runner.loops = watched

    def scaling_web(name: str, generation: int, mode: str) -> WatchedAutoscaler:
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
        spec = {"scaleTargetRef": target, "maxReplicas": 3, "mode": mode}
        metadata = {"name": name, "namespace": "team", "uid": name, "generation": generation}
        return watched_autoscaler({"metadata": metadata, "spec": spec, "status": {}})

    web = ScaleTarget("team", "Deployment", "web")

    async def scenario() -> None:
        for name in ("p", "q"):
            watched.put(("team", name), scaling_web(name, 1, "DryRun"))
        await until(lambda: len(watched) == 2)
        await asyncio.sleep(0.01)
        assert owners.owners(web) == frozenset()
        for name in ("p", "q"):
            watched.put(("team", name), scaling_web(name, 2, "Active"))
        assert {owner.name for owner in owners.owners(web)} == {"p", "q"}
        await watched.close()

    asyncio.run(scenario())


def runner_and_loops(
    term_for: Callable[[str, str], Any], **options: Any
) -> tuple[Any, Runner, AutoscalerLoops]:
    """A ``Runner`` on a mocked controller with synced caches, and the sink starting its
    loops (every replica acting for every Autoscaler)."""

    async def synced() -> None:
        return None

    controller = create_autospec(Controller, instance=True)
    controller.owners, controller.wakeups = OwnerIndex(), Wakeups()
    controller.recorder = create_autospec(Recorder, instance=True)
    controller.status = Mock()
    controller.status_heartbeat = 300.0
    watches = SimpleNamespace(synced=synced, objects=None)
    runner = Runner(controller, cast(Any, watches), cast(Any, None), term_for, **options)
    loops = AutoscalerLoops(runner.run, controller.wakeups, no_drop, lambda ns, name: True)
    runner.loops = loops
    return controller, runner, loops


def test_a_term_that_may_follow_another_replica_resumes_from_the_stored_autoscaler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch still shows 3 replicas in the status; the previous holder's last write (5)
    is stored. The loop resumes from what is stored, after a failed read, and never from the
    watch's copy; a standalone replica, alone in its one term, resumes from the watch's."""
    from podpilot.autoscaler.controller import runner as runner_module

    resumed_from: list[int] = []
    reads: list[str] = []
    term: object = (4, None)

    async def evaluate_once(loop: AutoscalerLoop, *args: object, **kwargs: object) -> None:
        nonlocal term
        resumed_from.append(loop.memory.last_replicas)
        term = None  # then stands by until the test ends

    async def read_stored(key: tuple[str, str]) -> WatchedAutoscaler | None:
        reads.append("read")
        if len(reads) == 1:
            raise TimeoutError("the apiserver did not answer")
        return with_status(autoscaler(1), currentReplicas=5)

    monkeypatch.setattr(runner_module, "run_until_stopped", evaluate_once)
    monkeypatch.setattr(runner_module, "STANDBY_POLL_SECONDS", 0.001)
    monkeypatch.setattr(runner_module, "RESUME_RETRY_SECONDS", 0.001)

    async def resumed(starting_term: object) -> list[int]:
        nonlocal term
        term, reads[:], resumed_from[:] = starting_term, [], []
        _, _, watched = runner_and_loops(
            lambda ns, name: cast(Any, term), read_autoscaler=read_stored
        )
        watched.put(KEY, with_status(autoscaler(1), currentReplicas=3))
        await until(lambda: len(resumed_from) == 1)
        await watched.close()
        return list(resumed_from)

    assert asyncio.run(resumed((4, None))) == [5]
    assert reads == ["read", "read"]  # the failed read was not acted on: read again
    assert asyncio.run(resumed(STANDALONE_TERM)) == [3]
    assert reads == []


def test_a_loop_ended_by_a_conflict_resumes_from_the_stored_autoscaler_even_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Standalone: the first loop resumes from the watch's copy (3); its status write met a
    conflict (the loop ended while this replica still acts), and the next resumes from a read
    of the stored Autoscaler (5), told to the status writer, with its series kept."""
    from podpilot.autoscaler.controller import runner as runner_module

    resumed_from: list[int] = []
    told: list[tuple[tuple[str, str], str]] = []

    async def end_as_a_conflict_does(loop: AutoscalerLoop, *args: object, **kw: object) -> None:
        resumed_from.append(loop.memory.last_replicas)

    async def read_stored(key: tuple[str, str]) -> WatchedAutoscaler | None:
        stored = with_status(autoscaler(1), currentReplicas=5)
        return dataclasses.replace(stored, resource_version="57")

    monkeypatch.setattr(runner_module, "run_until_stopped", end_as_a_conflict_does)
    monkeypatch.setattr(runner_module, "RESUME_AFTER_CONFLICT_SECONDS", 0.001)

    async def scenario() -> None:
        controller, _, watched = runner_and_loops(
            lambda ns, name: STANDALONE_TERM,
            read_autoscaler=read_stored,
            resumed_at=lambda key, version: told.append((key, version)),
        )
        first = dataclasses.replace(
            with_status(autoscaler(1), currentReplicas=3), resource_version="50"
        )
        watched.put(KEY, first)
        await until(lambda: len(resumed_from) >= 2)
        await watched.close()
        controller.recorder.forget.assert_called_once()  # at the end only, not after the conflict

    asyncio.run(scenario())
    assert resumed_from[:2] == [3, 5]
    assert told[:2] == [(KEY, "50"), (KEY, "57")]


def test_a_spec_edit_seen_with_this_loops_status_tells_the_writer_its_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch shows the status this loop resumed from (the same digest) at a newer version
    (a spec edit): the status writer is told, so the write after the edit meets no conflict.
    A status another writer changed is not told."""
    from podpilot.autoscaler.controller import runner as runner_module

    told: list[str] = []
    evaluated: list[object] = []

    def stored(generation: int, version: str, replicas: int) -> WatchedAutoscaler:
        status = {
            "currentReplicas": replicas,
            "stabilization": {"recommendations": [], "scaleUpEvents": [], "scaleDownEvents": []},
            "lastDecision": {"evaluatedAt": "2026-12-06T22:00:00Z"},
        }
        metadata = {"name": "web", "namespace": "team", "uid": "uid-1"}
        metadata |= {"generation": generation, "resourceVersion": version}
        spec = {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}
        return watched_autoscaler({"metadata": metadata, "spec": spec, "status": status})

    async def evaluation(*args: object) -> tuple[None, None]:
        evaluated.append(args)
        return None, None

    async def evaluate_twice(
        loop: AutoscalerLoop,
        controller: object,
        evaluate_once: Callable[[], Awaitable[object]],
        *args: object,
        **kwargs: object,
    ) -> None:
        watched.put(KEY, stored(2, "61", 3))  # the spec edited, the status as it was
        await evaluate_once()
        watched.put(KEY, stored(2, "62", 8))  # another writer's status
        await evaluate_once()

    monkeypatch.setattr(runner_module, "run_until_stopped", evaluate_twice)
    monkeypatch.setattr(runner_module, "run_once", evaluation)
    _, _, watched = runner_and_loops(
        lambda ns, name: STANDALONE_TERM,
        unchanged_at=lambda key, version: told.append(version),
    )

    async def scenario() -> None:
        watched.put(KEY, stored(1, "60", 3))
        await until(lambda: len(evaluated) == 2)
        await watched.close()

    asyncio.run(scenario())
    assert told == ["61"]
