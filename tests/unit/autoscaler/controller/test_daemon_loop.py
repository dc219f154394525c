"""The daemon's loop: a cancellation that is not its own is a failed evaluation, not its end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast
from unittest.mock import Mock, create_autospec

import pytest

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.spec import AutoscalerSpec
from podpilot.autoscaler.controller.autoscalers import StopFlag
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_until_stopped
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.policy.plan import Memory
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError
from podpilot.kube.single_flight import SingleFlight

Decided = tuple[AutoscalerSpec | None, EvaluationResult | None]
BOUND = 2.0  # seconds any step of these tests may take; each takes milliseconds


class Evaluations:
    """Scripted evaluations: the first ones fail as scripted, the next one blocks until the
    daemon ends (or is stopped)."""

    def __init__(self, stop: StopFlag, *failures: type[BaseException]) -> None:
        self.stop = stop
        self.failures = list(failures)
        self.started = 0
        self.blocked = asyncio.Event()

    async def __call__(self) -> Decided:
        self.started += 1
        if self.failures:
            failure = self.failures.pop(0)
            if failure is asyncio.CancelledError:
                await cancelled_by_someone_else()
            raise failure()
        self.blocked.set()
        await self.stop.wait(60)
        return None, None


async def cancelled_by_someone_else() -> None:
    """Await what another party cancels, as a shared read cancelled by its owner was."""
    shared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(shared.cancel)
    await shared


async def cancel_ends(daemon: asyncio.Task[None], stop: StopFlag) -> bool:
    """Cancel the daemon as kopf does, and tell whether that ended it within the bound. A
    daemon that swallowed its own cancellation is then stopped by the flag, so that a failing
    test still ends."""
    daemon.cancel()
    await asyncio.wait([daemon], timeout=BOUND)
    ended = daemon.cancelled()
    stop.set()
    await asyncio.wait([daemon], timeout=BOUND)
    return ended


async def until(condition: Callable[[], object]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), BOUND)


async def write_nothing(key: tuple[str, str], status: object, may_write: MayWrite) -> None:
    """No status is written by these evaluations."""


def controller() -> Controller:
    return Controller(
        services=None,  # type: ignore[arg-type]  # the evaluations are scripted
        status=CoalescingWriter(write_nothing, concurrency=1),
        bucket=TokenBucket(1000.0, 100),
        backoff_base=0.001,
        backoff_cap=0.002,
        recorder=create_autospec(Recorder, instance=True),  # nothing is evaluated
    )


def new_loop() -> AutoscalerLoop:
    return AutoscalerLoop("team", "web", Memory(None, 0, 0, None))


def test_a_foreign_cancellation_is_a_failed_evaluation_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, stop = new_loop(), StopFlag()
    evaluations = Evaluations(stop, asyncio.CancelledError)

    async def run() -> None:
        daemon = asyncio.create_task(
            run_until_stopped(loop, controller(), evaluations, stop, logging.getLogger())
        )
        await asyncio.wait_for(evaluations.blocked.wait(), BOUND)
        assert evaluations.started == 2
        assert loop.failures == 1  # counted as a failure: backoff, as for any other error
        assert not daemon.done()
        assert await cancel_ends(daemon, stop)  # kopf stopping the daemon ends it

    asyncio.run(run())
    assert "cancelled by something else than this loop" in caplog.text


def test_foreign_cancellations_and_errors_in_a_row_back_off_and_go_on() -> None:
    loop, stop = new_loop(), StopFlag()
    failures = (asyncio.CancelledError, RuntimeError, asyncio.CancelledError)
    evaluations = Evaluations(stop, *failures)

    async def run() -> None:
        daemon = asyncio.create_task(
            run_until_stopped(loop, controller(), evaluations, stop, logging.getLogger())
        )
        await asyncio.wait_for(evaluations.blocked.wait(), BOUND)
        assert (evaluations.started, loop.failures) == (4, 3)
        assert await cancel_ends(daemon, stop)

    asyncio.run(run())


def test_a_write_refused_after_a_fence_is_one_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, stop = new_loop(), StopFlag()
    evaluations = Evaluations(stop, WriteNotAllowedError)
    caplog.set_level(logging.DEBUG)

    async def run() -> None:
        daemon = asyncio.create_task(
            run_until_stopped(loop, controller(), evaluations, stop, logging.getLogger())
        )
        await asyncio.wait_for(evaluations.blocked.wait(), BOUND)
        assert (evaluations.started, loop.failures) == (2, 1)  # evaluated again, after backoff
        assert await cancel_ends(daemon, stop)

    asyncio.run(run())
    [record] = [r for r in caplog.records if "status not written" in r.getMessage()]
    # One line, at debug: the elector says "stops acting" once, not once per Autoscaler.
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert "may no longer act for it" in record.getMessage()


def test_an_error_after_the_replica_stopped_acting_leaves_no_series() -> None:
    loop, stop, acting = new_loop(), StopFlag(), [True]
    recording = controller()

    async def fenced_then_failing() -> Decided:
        acting[0] = False
        raise RuntimeError("the API server went away")

    async def run() -> None:
        await asyncio.wait_for(
            run_until_stopped(
                loop,
                recording,
                fenced_then_failing,
                stop,
                logging.getLogger(),
                keep_going=lambda: acting[0],
            ),
            BOUND,
        )  # ends by itself: no longer acting

    asyncio.run(run())
    assert loop.failures == 1
    cast(Mock, recording.recorder).evaluation_error.assert_not_called()


def test_cancelling_the_daemon_between_evaluations_ends_it() -> None:
    loop, stop = new_loop(), StopFlag()
    evaluations = Evaluations(stop, RuntimeError)

    async def run() -> None:
        busy = controller()
        busy.backoff_base = busy.backoff_cap = 60.0  # the retry is a minute away
        daemon = asyncio.create_task(
            run_until_stopped(loop, busy, evaluations, stop, logging.getLogger())
        )
        await until(lambda: loop.failures)
        assert await cancel_ends(daemon, stop)
        assert evaluations.started == 1

    asyncio.run(run())


def test_a_cancellation_once_stopped_ends_the_daemon() -> None:
    loop, stopped = new_loop(), StopFlag()

    async def stopping_evaluation() -> Decided:
        stopped.set()  # kopf sets the flag first ...
        await cancelled_by_someone_else()  # ... and whatever is cancelled then ends it
        raise AssertionError("not reached")

    async def run() -> None:
        daemon = asyncio.create_task(
            run_until_stopped(loop, controller(), stopping_evaluation, stopped, logging.getLogger())
        )
        await asyncio.wait([daemon], timeout=BOUND)
        assert daemon.cancelled()

    asyncio.run(run())


def test_autoscalers_sharing_a_read_survive_the_deletion_of_the_one_that_started_it() -> None:
    """The issue's case in one event loop: two daemons share one slow read; the one that
    started it is cancelled; the other still gets that read's value, without a failure."""
    release, fetches = asyncio.Event(), []

    async def slow_metrics(namespace: str) -> str:
        fetches.append(namespace)
        await release.wait()
        return f"pods of {namespace}"

    shared: SingleFlight[str, str] = SingleFlight(slow_metrics, 5.0)
    survivor, stop_a, stop_b = new_loop(), StopFlag(), StopFlag()
    seen: list[str] = []

    async def evaluation() -> Decided:
        seen.append(await shared.read("team", 0.0))
        return None, None

    async def scenario() -> None:
        first = asyncio.create_task(
            run_until_stopped(new_loop(), controller(), evaluation, stop_a, logging.getLogger())
        )
        await asyncio.sleep(0)
        second = asyncio.create_task(
            run_until_stopped(survivor, controller(), evaluation, stop_b, logging.getLogger())
        )
        await asyncio.sleep(0)
        assert await cancel_ends(first, stop_a)  # Autoscaler a deleted during the slow read
        release.set()
        await until(lambda: seen)
        assert (seen, fetches) == (["pods of team"], ["team"])  # the read a started
        assert survivor.failures == 0 and not second.done()
        assert await cancel_ends(second, stop_b)

    async def run() -> None:
        try:
            await scenario()
        finally:  # whatever failed, nothing is left waiting when the loop closes
            release.set()
            stop_a.set()
            stop_b.set()

    asyncio.run(run())


def test_the_first_period_counts_from_the_end_of_the_first_evaluation_the_next_from_their_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A starting operator's loops fall due together: the first period counts from when the
    first evaluation ended plus the Autoscaler's phase (spread evenly over a period), every
    later one from when its evaluation was due (fixed-rate)."""
    from podpilot.autoscaler.controller import loop as loop_module

    stop, elapsed = StopFlag(), []

    def delay_after(*args: object) -> float:
        elapsed.append(float(args[-1]))  # seconds since the evaluation counted as due
        if len(elapsed) == 2:
            stop.set()
        return 0.0

    async def evaluate() -> Decided:
        await asyncio.sleep(0.05)
        return None, None

    monkeypatch.setattr(loop_module, "next_delay", delay_after)
    loop = new_loop()
    asyncio.run(run_until_stopped(loop, controller(), evaluate, stop, logging.getLogger()))
    first, second = elapsed
    # Due its own phase of a (default) period after the first evaluation ended: the next delay
    # is that much longer than the period.
    assert first == pytest.approx(-loop.phase * loop_module.DEFAULT_PERIOD)
    assert 0.05 <= second < BOUND


def test_the_phases_of_many_autoscalers_spread_evenly_over_the_period() -> None:
    phases = [
        AutoscalerLoop(f"bench-{i % 10}", f"d-{i:05d}", Memory(None, 0, 0, None)).phase
        for i in range(5_000)
    ]
    per_tenth = [sum(1 for phase in phases if k / 10 <= phase < (k + 1) / 10) for k in range(10)]
    assert all(400 <= count <= 600 for count in per_tenth), per_tenth
