"""The loops' sleep: one future and one timer, ended early by any of its signals."""

from __future__ import annotations

import asyncio
import time

from podpilot.autoscaler.controller.signals import Signal, StopFlag, sleep_until


def test_a_sleep_lasts_its_timeout_when_no_signal_is_set() -> None:
    async def scenario() -> None:
        started = time.monotonic()
        await sleep_until(0.05, Signal(), Signal())
        assert time.monotonic() - started >= 0.05

    asyncio.run(scenario())


def test_setting_any_signal_ends_the_sleep_at_once() -> None:
    async def scenario() -> None:
        first, second = Signal(), Signal()
        sleeping = asyncio.create_task(sleep_until(30, first, second))
        await asyncio.sleep(0.01)
        second.set()
        await asyncio.wait_for(sleeping, 1)
        assert second.is_set() and not first.is_set()

    asyncio.run(scenario())


def test_a_signal_already_set_ends_the_sleep_before_it_begins() -> None:
    async def scenario() -> None:
        signal = Signal()
        signal.set()
        await asyncio.wait_for(sleep_until(30, signal), 0.1)

    asyncio.run(scenario())


def test_a_cancelled_sleep_leaves_no_sleeper_behind() -> None:
    async def scenario() -> None:
        signal = Signal()
        sleeping = asyncio.create_task(sleep_until(30, signal))
        await asyncio.sleep(0.01)
        sleeping.cancel()
        await asyncio.gather(sleeping, return_exceptions=True)
        assert sleeping.cancelled()
        signal.set()  # nobody to wake: no error, and a later sleep ends at once
        await asyncio.wait_for(sleep_until(30, signal), 0.1)

    asyncio.run(scenario())


def test_a_cleared_signal_lets_the_next_sleep_last() -> None:
    async def scenario() -> None:
        signal = Signal()
        signal.set()
        signal.clear()
        started = time.monotonic()
        await sleep_until(0.05, signal)
        assert time.monotonic() - started >= 0.05

    asyncio.run(scenario())


def test_stop_flag_wait_says_whether_it_was_set() -> None:
    async def scenario() -> None:
        stop = StopFlag()
        assert await stop.wait(0.01) is False
        waiting = asyncio.create_task(stop.wait(30))
        await asyncio.sleep(0.01)
        stop.set()
        assert await asyncio.wait_for(waiting, 1) is True
        assert stop

    asyncio.run(scenario())


def test_a_zero_sleep_still_lets_the_other_tasks_run() -> None:
    async def scenario() -> None:
        ran: list[bool] = []

        async def other() -> None:
            ran.append(True)

        task = asyncio.create_task(other())
        await sleep_until(0, Signal())
        assert ran == [True]
        await task

    asyncio.run(scenario())
