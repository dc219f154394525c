"""Which status writes an evaluation waits for: only those carrying decision state."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from unittest.mock import create_autospec

import pytest

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.pods import CachedPod, PodKey
from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.api.status import render_status, status_digest
from podpilot.autoscaler.api.watched import watched_autoscaler
from podpilot.autoscaler.controller import loop as loop_module
from podpilot.autoscaler.controller.loop import (
    AutoscalerLoop,
    Controller,
    WrittenStatus,
    next_delay,
    run_once,
)
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.engine import ScaleEvent, ScalingHistory, TimestampedRecommendation
from podpilot.autoscaler.policy.plan import Memory
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError, always, send_if_allowed
from podpilot.kube.scale import Scale
from podpilot.settings import STATUS_HEARTBEAT_SECONDS

from .test_status_writes import CPU, steady

RAW_SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 1,
    "maxReplicas": 10,
    "metrics": [CPU],
}
NOW = 1_800_000_000.0


class SlowWrites:
    """Status writes that finish only when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.written: list[Mapping[str, Any]] = []

    async def write(
        self, key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite
    ) -> None:
        await self.release.wait()
        send_if_allowed(may_write, lambda: self.written.append(status))


class NothingWatched:
    def pods(self, key: PodKey) -> list[CachedPod]:
        return []

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        return None


def evaluating(monkeypatch: pytest.MonkeyPatch, result: EvaluationResult) -> None:
    async def evaluate(*_: object) -> EvaluationResult:
        return result

    monkeypatch.setattr(loop_module, "evaluate", evaluate)


def controller_writing_to(writes: SlowWrites) -> Controller:
    return Controller(
        services=None,  # type: ignore[arg-type]  # evaluate is replaced
        status=CoalescingWriter(writes.write, concurrency=1),
        bucket=TokenBucket(1.0, 1),
        backoff_base=1.0,
        backoff_cap=2.0,
        recorder=create_autospec(Recorder, instance=True),
    )


async def run_once_with(
    loop: AutoscalerLoop,
    controller: Controller,
    may_write: MayWrite = always,
    raw_spec: Mapping[str, Any] = RAW_SPEC,
) -> tuple[AutoscalerSpec | None, EvaluationResult | None]:
    """``run_once`` on nothing watched, with no Events, as the loop's ``may_write`` allows."""
    return await run_once(
        loop,
        controller,
        raw_spec,
        1,
        NothingWatched(),
        lambda _: None,
        logging.getLogger(),
        may_write=may_write,
    )


async def evaluate_once(
    loop: AutoscalerLoop, writes: SlowWrites, may_write: MayWrite = always
) -> bool:
    """Whether the evaluation returned before its status write was released."""
    controller = controller_writing_to(writes)
    task = asyncio.create_task(run_once_with(loop, controller, may_write))
    for _ in range(20):
        await asyncio.sleep(0)
    returned_early = task.done()
    writes.release.set()
    await task
    for _ in range(20):
        await asyncio.sleep(0)
    return returned_early


def resumed(history: ScalingHistory, replicas: int = 3) -> AutoscalerLoop:
    status = {
        "currentReplicas": replicas,
        "stabilization": {
            "recommendations": [
                {"timestamp": "2027-01-15T08:00:00.000000Z", "replicas": item.replicas}
                for item in history.recommendations
            ],
            "scaleUpEvents": [],
            "scaleDownEvents": [],
        },
    }
    return AutoscalerLoop.resume("team", "web", status, NOW)


def test_a_status_with_the_persisted_decision_state_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = steady(NOW)
    evaluating(monkeypatch, result)
    loop = resumed(result.history)
    writes = SlowWrites()
    assert asyncio.run(evaluate_once(loop, writes))
    assert len(writes.written) == 1  # written all the same


def test_a_first_status_a_restart_would_seed_again_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evaluating(monkeypatch, steady(NOW))
    loop = AutoscalerLoop("team", "web", Memory(None, 0, 0, None))
    assert asyncio.run(evaluate_once(loop, SlowWrites()))


def test_a_new_recommendation_is_persisted_before_the_evaluation_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evaluating(monkeypatch, steady(NOW, counts=(3, 4)))
    loop = resumed(ScalingHistory((TimestampedRecommendation(3, NOW),)))
    assert not asyncio.run(evaluate_once(loop, SlowWrites()))
    assert loop.persisted is not None and loop.pending is None


def test_a_rescale_is_persisted_before_the_evaluation_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = steady(NOW, replicas=4, counts=(4,))
    history = dataclasses.replace(base.history, scale_up_events=(ScaleEvent(1, NOW),))
    evaluating(monkeypatch, dataclasses.replace(base, history=history, rescaled=True))
    loop = resumed(ScalingHistory((TimestampedRecommendation(4, NOW),)))
    assert not asyncio.run(evaluate_once(loop, SlowWrites()))


@pytest.mark.parametrize(
    ("result", "position"),
    [(steady(NOW, counts=(3, 4)), 1), (steady(NOW, counts=(3,)), 3)],
    ids=["waited-for-goes-ahead", "not-waited-for-queues"],
)
def test_only_a_status_the_evaluation_waits_for_goes_ahead_of_a_backlog(
    monkeypatch: pytest.MonkeyPatch, result: EvaluationResult, position: int
) -> None:
    """Behind a start-up's backlog of first statuses, a waited-for write (a new recommendation
    here; a rescale's record likewise) would hold the evaluation past its deadline."""
    evaluating(monkeypatch, result)
    loop = resumed(ScalingHistory((TimestampedRecommendation(3, NOW),)))
    writes = SlowWrites()

    async def scenario() -> None:
        controller = controller_writing_to(writes)
        backlog = [controller.status.submit(("team", f"other-{i}"), {"other": i}) for i in range(3)]
        evaluation = asyncio.create_task(
            run_once(
                loop, controller, RAW_SPEC, 1, NothingWatched(), lambda _: None, logging.getLogger()
            )
        )
        for _ in range(20):
            await asyncio.sleep(0)
        writes.release.set()
        await asyncio.gather(evaluation, *backlog)

    asyncio.run(scenario())
    assert len(writes.written) == 4
    assert "other" not in writes.written[position]


def test_a_failed_unwaited_write_makes_the_next_evaluation_write_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = steady(NOW)
    evaluating(monkeypatch, result)
    loop = resumed(result.history)

    async def scenario() -> None:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("apiserver said no"))
        loop.written = WrittenStatus.of({"stale": True})
        loop.written_key, loop.pending = ("key",), failed
        loop.written_at = NOW + 10**6  # not due for a heartbeat
        writes = SlowWrites()
        writes.release.set()
        await evaluate_once(loop, writes)
        assert len(writes.written) == 1

    asyncio.run(scenario())


class FencedWrites(SlowWrites):
    """Status writes refused while ``fenced``, as the writer refuses them after a fence."""

    def __init__(self) -> None:
        super().__init__()
        self.fenced = True
        self.release.set()

    async def write(
        self, key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite
    ) -> None:
        if self.fenced:
            raise WriteNotAllowedError
        await super().write(key, status, may_write)


def test_a_write_refused_after_a_fence_is_written_again_once_the_replica_acts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fence and the Lease back between two evaluations: the loop goes on, and the status
    refused meanwhile must not count as written (it stayed unwritten for up to a heartbeat)."""
    result = steady(NOW)
    evaluating(monkeypatch, result)
    loop = resumed(result.history)
    loop.written_at = NOW + 10**6  # not due for a heartbeat
    writes = FencedWrites()
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        await evaluate_once(loop, writes)
        assert writes.written == []
        writes.fenced = False
        await evaluate_once(loop, writes)
        await evaluate_once(loop, writes)

    asyncio.run(scenario())
    assert len(writes.written) == 1  # the refused status, then nothing new to write
    assert [r.levelno for r in caplog.records if "status write of" in r.getMessage()] == [
        logging.DEBUG  # the elector says "stops acting" once, not once per Autoscaler
    ]


def test_a_status_queued_in_an_old_term_is_not_sent_in_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The status goes to the writer with the loop's own may_write: rendered while the loop
    acted, it is refused once the loop's term has ended, whatever the replica holds by then."""
    result = steady(NOW)
    evaluating(monkeypatch, result)
    loop = resumed(result.history)
    writes = SlowWrites()
    in_term = [True]

    async def scenario() -> None:
        controller = controller_writing_to(writes)
        await run_once_with(loop, controller, lambda: in_term[0])  # its status: not waited for
        assert loop.pending is not None and not loop.pending.done()  # queued, in the term
        in_term[0] = False  # the Lease lost and taken back before the write goes out
        writes.release.set()
        with pytest.raises(WriteNotAllowedError):
            await loop.pending

    asyncio.run(scenario())
    assert writes.written == []


@pytest.mark.parametrize(("elapsed", "delay"), [(0.0, 15.0), (2.5, 12.5), (15.0, 0.0), (20.0, 0.0)])
def test_the_period_is_counted_from_the_start_of_the_evaluation(
    elapsed: float, delay: float
) -> None:
    loop = resumed(ScalingHistory((TimestampedRecommendation(3, NOW),)))
    controller = controller_writing_to(SlowWrites())
    result = steady(NOW)
    spec = parse_spec(RAW_SPEC)
    assert next_delay(loop, controller, spec, result, False, elapsed) == delay


def test_a_changed_reading_is_written_and_a_repeated_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = resumed(ScalingHistory((TimestampedRecommendation(3, NOW),)))
    writes = SlowWrites()
    for offset, utilization in ((0, 50), (5, 50), (10, 70), (15, 70)):
        evaluating(monkeypatch, steady(NOW + offset, utilization=utilization))
        asyncio.run(evaluate_once(loop, writes))
    assert [status["targets"] for status in writes.written] == ["cpu: 50%/50%", "cpu: 70%/50%"]


def resumed_from_the_whole_status(found: Mapping[str, Any], now: float) -> AutoscalerLoop:
    return AutoscalerLoop.resume("team", "web", found, now)


def resumed_from_the_watch(found: Mapping[str, Any], now: float) -> AutoscalerLoop:
    """As the runner resumes: from what the watch keeps of the status, and its digest."""
    watched = watched_autoscaler({"metadata": {"name": "web"}, "spec": RAW_SPEC, "status": found})
    return AutoscalerLoop.resume("team", "web", watched.status, now, watched.status_digest)


def as_stored(status: Mapping[str, Any]) -> dict[str, Any]:
    """What the apiserver keeps of a status written by merge patch: its null keys deleted."""
    stored: dict[str, Any] = json.loads(json.dumps(status, default=str))
    for key, value in list(stored.items()):
        if value is None:
            del stored[key]
        elif isinstance(value, dict):
            stored[key] = as_stored(value)
    return stored


@pytest.mark.parametrize("resumed", [resumed_from_the_whole_status, resumed_from_the_watch])
def test_a_restarted_loop_does_not_rewrite_the_status_it_finds(
    monkeypatch: pytest.MonkeyPatch, resumed: Callable[[Mapping[str, Any], float], AutoscalerLoop]
) -> None:
    spec = parse_spec(RAW_SPEC)
    found = as_stored(render_status(steady(NOW), spec, {}, 1))
    loop = resumed(found, NOW + 5)
    writes = SlowWrites()
    monkeypatch.setattr(loop_module.time, "time", lambda: NOW + 5)  # the loop's clock
    evaluating(monkeypatch, steady(NOW + 5))
    asyncio.run(evaluate_once(loop, writes))
    assert writes.written == []
    evaluating(monkeypatch, steady(NOW + 10, utilization=70))
    asyncio.run(evaluate_once(loop, writes))
    assert [status["targets"] for status in writes.written] == ["cpu: 70%/50%"]


@pytest.mark.parametrize("status_heartbeat", [STATUS_HEARTBEAT_SECONDS, 60.0, 10.0])
def test_after_a_long_stop_the_heartbeats_fall_due_within_half_a_minute(
    monkeypatch: pytest.MonkeyPatch, status_heartbeat: float
) -> None:
    found = render_status(steady(NOW), parse_spec(RAW_SPEC), {}, 1)
    restarted = NOW + 3600
    due = []
    for name in (f"web-{i}" for i in range(20)):
        loop = AutoscalerLoop.resume("team", name, found, restarted, None, status_heartbeat)
        assert status_heartbeat / 2 <= loop.heartbeat <= status_heartbeat
        due.append(loop.written_at + loop.heartbeat - restarted)
    assert all(0 <= seconds <= min(30, status_heartbeat) for seconds in due)
    assert max(due) - min(due) > min(10, status_heartbeat / 4)  # spread, not all at once

    loop = AutoscalerLoop.resume("team", "web", found, restarted)
    writes = SlowWrites()
    monkeypatch.setattr(loop_module.time, "time", lambda: restarted + 31)  # the loop's clock
    evaluating(monkeypatch, steady(restarted + 31))
    asyncio.run(evaluate_once(loop, writes))
    assert len(writes.written) == 1


def test_the_watch_keeps_less_than_the_status_but_all_a_loop_resumes_from() -> None:
    found = render_status(steady(NOW), parse_spec(RAW_SPEC), {}, 1)
    watched = watched_autoscaler({"metadata": {"name": "web"}, "spec": RAW_SPEC, "status": found})
    assert {"currentMetrics", "targets", "summary"} & found.keys()
    assert not {"currentMetrics", "targets", "summary"} & watched.status.keys()
    assert watched.status["lastDecision"].keys() <= {"fallbackApplied", "evaluatedAt"}
    whole = AutoscalerLoop.resume("team", "web", found, NOW + 5)
    kept = resumed_from_the_watch(found, NOW + 5)
    assert kept.memory == whole.memory
    assert kept.written == whole.written  # the carried fields, and the whole status's digest
    assert (kept.written_at, kept.persisted) == (whole.written_at, whole.persisted)
    assert (kept.shadow, kept.takeover, kept.writes_takeover) == (
        whole.shadow,
        whole.takeover,
        whole.writes_takeover,
    )


def test_a_heartbeat_writes_an_unchanged_status_and_keeps_the_digest_of_what_it_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = AutoscalerLoop("team", "web", Memory(None, 0, 0, None))
    written: list[Mapping[str, Any]] = []

    def evaluate_at(now: float) -> None:
        evaluating(monkeypatch, steady(now))
        writes = SlowWrites()
        asyncio.run(evaluate_once(loop, writes))
        written.extend(writes.written)

    evaluate_at(NOW)
    evaluate_at(NOW + 15)  # unchanged, the heartbeat not due: nothing written
    assert len(written) == 1
    loop.written_at = time.time() - loop.heartbeat
    evaluate_at(NOW + 30)
    assert len(written) == 2
    assert written[1]["lastDecision"]["evaluatedAt"] != written[0]["lastDecision"]["evaluatedAt"]
    assert loop.written is not None
    assert loop.written.digest == status_digest(written[1]) == status_digest(written[0])
