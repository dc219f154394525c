"""``SingleFlight``: one request per key at a time, its result shared while fresh."""

from __future__ import annotations

import asyncio

import pytest

from podpilot.kube.single_flight import SingleFlight


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_readers_share_the_request_in_flight() -> None:
    fetched: list[str] = []

    async def fetch(key: str) -> str:
        fetched.append(key)
        await asyncio.sleep(0.01)
        return key.upper()

    async def run() -> list[str]:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        return list(await asyncio.gather(*(flight.read("a") for _ in range(5))))

    assert asyncio.run(run()) == ["A"] * 5
    assert fetched == ["a"]


def test_waiters_share_the_error_and_the_next_read_tries_again() -> None:
    calls = 0

    async def fetch(key: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise RuntimeError("down")
        return key

    async def run() -> str:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        results = await asyncio.gather(flight.read("a"), flight.read("a"), return_exceptions=True)
        assert all(isinstance(result, RuntimeError) for result in results)
        return await flight.read("a")

    assert asyncio.run(run()) == "a"
    assert calls == 2


@pytest.mark.parametrize(
    ("asked", "age", "fetches"), [(None, 4.9, 1), (2.0, 2.5, 2), (60.0, 5.0, 2)]
)
def test_a_result_is_reused_while_younger_than_the_stricter_max_age(
    asked: float | None, age: float, fetches: int
) -> None:
    clock, calls = Clock(), []

    async def fetch(key: str) -> str:
        calls.append(key)
        return key

    async def run() -> None:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0, clock=clock)
        await flight.read("a", asked)
        clock.now = age
        await flight.read("a", asked)

    asyncio.run(run())
    assert len(calls) == fetches
