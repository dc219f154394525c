"""A spec change ends the wait between evaluations: the next one starts at once (not a period
later), never beside a running one, never sooner than MIN_WAKE_INTERVAL after the one before,
and only for a new generation."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from tests.unit.autoscaler.controller.test_daemon_loop import (
    BOUND,
    Decided,
    controller,
    new_loop,
    until,
)

from podpilot.autoscaler.controller import loop as loop_module
from podpilot.autoscaler.controller.autoscalers import StopFlag
from podpilot.autoscaler.controller.loop import run_until_stopped
from podpilot.autoscaler.controller.wakeup import Wakeup, Wakeups

PERIOD = 15.0  # next_delay's period when an evaluation returns no spec


class Evaluations:
    """Each evaluation reads the generation current at its start (as the daemon reads kopf's
    live body), takes ``seconds``, and records when it started and how many ran at once."""

    def __init__(self, wakeup: Wakeup, seconds: float = 0.0) -> None:
        self.wakeup = wakeup
        self.seconds = seconds
        self.generation = 1
        self.started: list[tuple[float, int]] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self) -> Decided:
        self.wakeup.evaluating(self.generation)
        self.started.append((time.monotonic(), self.generation))
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.running -= 1
        return None, None

    def edit(self, generation: int) -> None:
        """kubectl apply of a new spec: kopf's body changes, then the watch handler runs."""
        self.generation = generation
        self.wakeup.spec_changed(generation)


@pytest.fixture
def short_min_interval(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(loop_module, "MIN_WAKE_INTERVAL", 0.2)
    return 0.2


def run(evaluations: Evaluations, stop: StopFlag, wakeup: Wakeup | None) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_until_stopped(
            new_loop(), controller(), evaluations, stop, logging.getLogger(), wakeup=wakeup
        )
    )


def test_a_spec_change_is_evaluated_at_once_not_a_period_later(short_min_interval: float) -> None:
    wakeup, stop = Wakeup(), StopFlag()
    evaluations = Evaluations(wakeup)

    async def scenario() -> None:
        daemon = run(evaluations, stop, wakeup)
        await until(lambda: len(evaluations.started) == 1)
        await asyncio.sleep(0.5)  # well inside the 15 s period
        edited = time.monotonic()
        evaluations.edit(2)
        await until(lambda: len(evaluations.started) == 2)
        took = evaluations.started[1][0] - edited
        assert took < BOUND / 2, took
        assert evaluations.started[1][1] == 2  # the new spec is the one evaluated
        # The period counts again from that evaluation: nothing more for a while.
        await asyncio.sleep(0.5)
        assert len(evaluations.started) == 2
        stop.set()
        await asyncio.wait_for(daemon, BOUND)

    asyncio.run(scenario())


def test_a_change_right_after_an_evaluation_waits_for_the_minimum_interval(
    short_min_interval: float,
) -> None:
    wakeup, stop = Wakeup(), StopFlag()
    evaluations = Evaluations(wakeup)

    async def scenario() -> None:
        daemon = run(evaluations, stop, wakeup)
        await until(lambda: len(evaluations.started) == 1)
        evaluations.edit(2)
        evaluations.edit(3)  # a burst of edits: one evaluation, of the newest spec
        await until(lambda: len(evaluations.started) == 2)
        gap = evaluations.started[1][0] - evaluations.started[0][0]
        assert gap >= short_min_interval * 0.95, gap
        assert evaluations.started[1][1] == 3
        await asyncio.sleep(3 * short_min_interval)
        assert len(evaluations.started) == 2  # the burst made one evaluation, not three
        stop.set()
        await asyncio.wait_for(daemon, BOUND)

    asyncio.run(scenario())


def test_a_change_during_an_evaluation_never_overlaps_it_and_is_evaluated_next(
    short_min_interval: float,
) -> None:
    wakeup, stop = Wakeup(), StopFlag()
    evaluations = Evaluations(wakeup, seconds=0.3)

    async def scenario() -> None:
        daemon = run(evaluations, stop, wakeup)
        await until(lambda: evaluations.running == 1)
        evaluations.edit(2)  # while the evaluation of generation 1 runs
        await until(lambda: len(evaluations.started) == 2)
        first_end = evaluations.started[0][0] + evaluations.seconds
        assert evaluations.started[1][0] >= first_end - 0.01
        assert evaluations.started[1][1] == 2
        assert evaluations.most_at_once == 1
        stop.set()
        await asyncio.wait_for(daemon, BOUND)

    asyncio.run(scenario())


def test_the_same_generation_does_not_wake_the_loop(short_min_interval: float) -> None:
    wakeup, stop = Wakeup(), StopFlag()
    evaluations = Evaluations(wakeup)

    async def scenario() -> None:
        daemon = run(evaluations, stop, wakeup)
        await until(lambda: len(evaluations.started) == 1)
        wakeup.spec_changed(1)  # its own status write, a label: the generation stays
        wakeup.spec_changed(None)
        await asyncio.sleep(5 * short_min_interval)
        assert len(evaluations.started) == 1
        stop.set()
        await asyncio.wait_for(daemon, BOUND)

    asyncio.run(scenario())


def test_stopping_ends_the_wait_and_is_not_a_wake_up() -> None:
    wakeup, stop = Wakeup(), StopFlag()

    async def scenario() -> bool:
        sleeping = asyncio.create_task(wakeup.sleep(stop, PERIOD))
        await asyncio.sleep(0.05)
        stop.set()
        return await asyncio.wait_for(sleeping, BOUND)

    assert asyncio.run(scenario()) is False


def test_the_registry_wakes_only_a_running_loop() -> None:
    async def scenario() -> None:
        wakeups = Wakeups()
        wakeups.spec_changed("team", "web", 2)  # no loop yet: nothing to wake, no error
        wakeup = wakeups.register("team", "web")
        assert wakeups.register("team", "web") is wakeup
        wakeup.evaluating(1)
        wakeups.spec_changed("team", "api", 5)
        assert not wakeup.pending
        wakeups.spec_changed("team", "web", 2)
        assert wakeup.pending
        wakeups.release("team", "web")
        wakeups.spec_changed("team", "web", 3)  # released: ignored

    asyncio.run(scenario())
