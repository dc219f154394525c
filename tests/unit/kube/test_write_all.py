"""Writes run a few at a time, all end before an error is raised, and a refusal wins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from podpilot.kube.fencing import WriteNotAllowedError, write_all


def writes(
    outcomes: list[BaseException | None], log: list[str], running: list[int]
) -> list[Callable[[], Awaitable[None]]]:
    def write(index: int, outcome: BaseException | None) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            running[0] += 1
            running[1] = max(running[1], running[0])
            await asyncio.sleep(0.01 * (len(outcomes) - index))
            running[0] -= 1
            log.append(f"ended {index}")
            if outcome is not None:
                raise outcome

        return run

    return [write(index, outcome) for index, outcome in enumerate(outcomes)]


def test_at_most_limit_run_at_once_and_every_one_ends() -> None:
    log: list[str] = []
    running = [0, 0]
    asyncio.run(write_all(writes([None] * 7, log, running), 3))
    assert sorted(log) == sorted(f"ended {index}" for index in range(7))
    assert running[1] == 3


def test_every_write_ends_before_the_refusal_is_raised() -> None:
    log: list[str] = []
    outcomes: list[BaseException | None] = [RuntimeError("timed out"), WriteNotAllowedError()]
    outcomes += [None] * 3
    with pytest.raises(WriteNotAllowedError):
        asyncio.run(write_all(writes(outcomes, log, [0, 0]), 2))
    assert len(log) == 5


def test_without_a_refusal_the_first_failure_is_raised() -> None:
    outcomes: list[BaseException | None] = [None, ValueError("first"), KeyError("second")]
    with pytest.raises(ValueError, match="first"):
        asyncio.run(write_all(writes(outcomes, [], [0, 0]), 4))


def test_a_write_that_fails_with_no_answer_waits_for_the_others_to_end() -> None:
    """No write of a round is left running when the round fails: it would race the retry."""
    ended: list[str] = []

    async def unanswered() -> None:
        raise TimeoutError("no answer within 30 s")

    async def slow() -> None:
        await asyncio.sleep(0.05)
        ended.append("slow")

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await write_all([unanswered, slow], limit=2)
        assert ended == ["slow"]

    asyncio.run(scenario())
