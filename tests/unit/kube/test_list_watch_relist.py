"""The list-and-watch lists again after repeated failed watches, with backoff between tries.
The apiserver is a fake list call given to the constructor; the watch thread runs for real."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from podpilot.kube.list_watch import (
    MAX_RETRY_SECONDS,
    RELIST_AFTER_FAILURES,
    ListWatch,
    NextAttempt,
    after_failure,
)


def test_the_same_version_is_watched_again_until_the_third_failure_then_listed_again() -> None:
    assert [after_failure(n, n) for n in (1, 2, 3, 4)] == [
        NextAttempt(False, 0.5),
        NextAttempt(False, 1.0),
        NextAttempt(True, 2.0),
        NextAttempt(True, 4.0),
    ]
    assert RELIST_AFTER_FAILURES == 3
    assert after_failure(1, 1, relist_after=1).relist


def test_a_successful_list_restarts_the_relist_count_but_not_the_backoff() -> None:
    # Five failures in a row, the last two after a LIST that succeeded: watch again, and
    # wait as long as the fifth failure in a row asks.
    assert after_failure(5, 2) == NextAttempt(False, 8.0)
    assert after_failure(50, 1).delay == MAX_RETRY_SECONDS


class Page:
    def __init__(self, resource_version: str) -> None:
        body = {"metadata": {"resourceVersion": resource_version}, "items": []}
        self.data = json.dumps(body).encode()

    def release_conn(self) -> None:
        pass


class EmptyWatch:
    """A watch the server ended normally (its timeout), with no event."""

    def stream(self, amt: None, decode_content: bool) -> Iterator[bytes]:
        return iter(())

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class FakeApi:
    """LIST always answers; WATCH fails as ``watch_failures`` says, one entry per attempt
    (True: fails; False: ends normally); stops recording after ``limit`` calls."""

    def __init__(self, watch_failures: list[bool], limit: int) -> None:
        self.calls: list[str] = []
        self._watch_failures = watch_failures
        self._limit = limit
        self._attempt = 0
        self.done = threading.Event()

    def __call__(self, **params: Any) -> Any:
        if len(self.calls) >= self._limit:
            self.done.set()
            raise RuntimeError("the test has seen enough")
        if not params.get("watch"):
            self.calls.append("list")
            return Page("7")
        self.calls.append(f"watch@{params['resource_version']}")
        failing = self._watch_failures[self._attempt % len(self._watch_failures)]
        self._attempt += 1
        if failing:
            raise ConnectionResetError("the apiserver reset the watch")
        return EmptyWatch()


class NoSink:
    def put(self, key: tuple[str, str], value: Any) -> None:
        pass

    def remove(self, key: tuple[str, str]) -> None:
        pass


def run_until_done(api: FakeApi) -> list[str]:
    async def scenario() -> None:
        watch = ListWatch("pods", api, dict, NoSink(), retry_base=0.001)
        watch.start()
        try:
            assert await asyncio.to_thread(api.done.wait, 10.0), "the watch thread stalled"
        finally:
            watch.stop()
            watch.join(5.0)

    asyncio.run(scenario())
    return api.calls


def test_repeated_watch_failures_lead_to_a_new_list() -> None:
    calls = run_until_done(FakeApi([True], limit=9))
    watches = ["watch@7"] * RELIST_AFTER_FAILURES
    assert calls == ["list", *watches, "list", *watches, "list"]


def test_a_watch_that_succeeds_in_between_resets_the_count() -> None:
    calls = run_until_done(FakeApi([True, True, False], limit=8))
    assert calls == ["list", *["watch@7"] * 7]


@pytest.mark.parametrize("relist_after", [1, 2])
def test_the_threshold_is_a_constructor_setting(relist_after: int) -> None:
    api = FakeApi([True], limit=7)

    async def scenario() -> None:
        watch = ListWatch("pods", api, dict, NoSink(), relist_after=relist_after, retry_base=0.001)
        watch.start()
        try:
            assert await asyncio.to_thread(api.done.wait, 10.0)
        finally:
            watch.stop()
            watch.join(5.0)

    asyncio.run(scenario())
    cycle = ["list", *["watch@7"] * relist_after]
    assert api.calls == (cycle * 7)[:7]
