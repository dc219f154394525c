"""``SingleFlight``: one request per key at a time, its result shared while fresh."""

from __future__ import annotations

import asyncio
import gc

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


class BlockedRead:
    """A read that waits for ``release`` and then returns or raises what it was given."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.release = asyncio.Event()
        self.error = error
        self.started = 0

    async def __call__(self, key: str) -> str:
        self.started += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return key.upper()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def only_this_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


def collecting_loop_errors() -> list[dict[str, object]]:
    """What the running loop's exception handler is given (e.g. a never-retrieved error)."""
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    return errors


def test_a_cancelled_first_caller_does_not_cancel_the_read_the_others_wait_for() -> None:
    fetch = BlockedRead()

    async def run() -> str:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        first = asyncio.create_task(flight.read("a"))
        await settle()
        second = asyncio.create_task(flight.read("a"))
        await settle()
        first.cancel()
        await settle()
        assert first.cancelled()
        assert not second.done()
        fetch.release.set()
        value = await second
        await settle()
        assert only_this_task_left()
        return value

    assert asyncio.run(run()) == "A"
    assert fetch.started == 1


def test_an_error_reaches_every_waiter_and_is_never_left_unretrieved() -> None:
    fetch = BlockedRead(RuntimeError("down"))

    async def run() -> None:
        errors = collecting_loop_errors()
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        readers = [asyncio.create_task(flight.read("a")) for _ in range(3)]
        await settle()
        readers[0].cancel()  # its wait ends; the error still reaches the two others
        await settle()
        fetch.release.set()
        results = await asyncio.gather(*readers, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert [str(result) for result in results[1:]] == ["down", "down"]
        del readers, results
        gc.collect()  # a never-retrieved task exception is reported when the task is freed
        await settle()
        assert errors == []
        assert only_this_task_left()

    asyncio.run(run())


def test_an_error_raised_after_every_caller_left_is_retrieved_too() -> None:
    async def refuses_to_be_cancelled(key: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("failed while being cancelled") from None
        return key

    async def run() -> None:
        errors = collecting_loop_errors()
        flight: SingleFlight[str, str] = SingleFlight(refuses_to_be_cancelled, 5.0)
        reader = asyncio.create_task(flight.read("a"))
        await settle()
        reader.cancel()
        await settle()
        assert reader.cancelled()
        del reader
        gc.collect()
        await settle()
        assert errors == []
        assert only_this_task_left()

    asyncio.run(run())


def test_a_read_nobody_waits_for_is_cancelled_and_a_new_caller_starts_another() -> None:
    fetch = BlockedRead()

    async def run() -> str:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        readers = [asyncio.create_task(flight.read("a")) for _ in range(2)]
        await settle()
        abandoned = asyncio.all_tasks() - {asyncio.current_task(), *readers}
        for reader in readers:
            reader.cancel()
        await settle()
        assert all(reader.cancelled() for reader in readers)
        assert [task.cancelled() for task in abandoned] == [True]
        assert only_this_task_left()
        # The next caller neither joins the abandoned read nor receives its cancellation.
        late = asyncio.create_task(flight.read("a"))
        await settle()
        fetch.release.set()
        return await late

    assert asyncio.run(run()) == "A"
    assert fetch.started == 2


def test_a_caller_cancelled_just_as_the_read_starts_leaves_nothing_behind() -> None:
    fetch = BlockedRead()

    async def run() -> None:
        flight: SingleFlight[str, str] = SingleFlight(fetch, 5.0)
        reader = asyncio.create_task(flight.read("a"))
        await asyncio.sleep(0)  # the read task is created, not yet awaited
        reader.cancel()
        await settle()
        assert reader.cancelled()
        assert only_this_task_left()

    asyncio.run(run())
