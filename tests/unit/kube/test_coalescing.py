"""The coalescing status writer: newest value only, never two writes for one key in flight."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from podpilot.kube.coalescing import CoalescingWriter, EncodedWriter
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError


class Recorder:
    """A write that blocks until released, and records what was written and how many at once."""

    def __init__(self) -> None:
        self.written: list[tuple[str, int]] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.running: set[str] = set()
        self.most_at_once = 0
        self.fail: set[int] = set()

    async def write(self, key: str, value: int, may_write: MayWrite) -> None:
        assert key not in self.running, "two writes in flight for one key"
        self.running.add(key)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await self.gates.setdefault(key, asyncio.Event()).wait()
            if not may_write():  # asked right before sending, as the status writer does
                raise WriteNotAllowedError
            if value in self.fail:
                raise RuntimeError(f"write {value} failed")
            self.written.append((key, value))
        finally:
            self.running.discard(key)
            self.gates.pop(key, None)

    def release(self, key: str) -> None:
        self.gates.setdefault(key, asyncio.Event()).set()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_newer_value_replaces_a_queued_one_and_answers_both_submitters() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        first = writer.submit("a", 1)
        await settle()  # "a"=1 in flight
        second = writer.submit("a", 2)
        third = writer.submit("a", 3)
        assert second is third  # 2 was queued, 3 replaced it
        recorder.release("a")
        await first
        await settle()
        recorder.release("a")
        await third
        assert recorder.written == [("a", 1), ("a", 3)]
        assert writer.queued == writer.in_flight == 0

    asyncio.run(scenario())


def test_never_two_writes_in_flight_for_one_key() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=4)
        writer.submit("a", 1)
        await settle()
        last = writer.submit("a", 2)
        await settle()
        assert recorder.running == {"a"} and writer.in_flight == 1 and writer.queued == 1
        recorder.release("a")
        await settle()
        recorder.release("a")
        await last
        assert recorder.written == [("a", 1), ("a", 2)]

    asyncio.run(scenario())


def test_at_most_concurrency_writes_at_once_in_first_queued_order() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=2)
        futures = [writer.submit(key, 0) for key in "abcde"]
        writer.submit("e", 1)  # replacing a queued value keeps its place
        writer.submit("c", 1)
        await settle()
        assert recorder.running == {"a", "b"}
        for key in "abcde":
            recorder.release(key)
            await settle()
        await asyncio.gather(*futures)
        assert recorder.most_at_once == 2
        assert recorder.written == [("a", 0), ("b", 0), ("c", 1), ("d", 0), ("e", 1)]

    asyncio.run(scenario())


def test_a_failed_write_is_reported_to_its_submitter_and_others_go_on() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        recorder.fail = {1}
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        failing = writer.submit("a", 1)
        other = writer.submit("b", 2)
        recorder.release("a")
        with pytest.raises(RuntimeError, match="write 1 failed"):
            await failing
        recorder.release("b")
        await other
        assert recorder.written == [("b", 2)]

    asyncio.run(scenario())


def test_an_unawaited_failure_is_not_reported_as_never_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        recorder.fail = {1}
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        future = writer.submit("a", 1)
        recorder.release("a")
        await settle()
        assert future.done()
        del future

    asyncio.run(scenario())
    assert "never retrieved" not in caplog.text


def test_discard_drops_what_is_queued_and_close_cancels_what_is_in_flight() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        in_flight = writer.submit("a", 1)
        queued = writer.submit("b", 1)
        await settle()
        writer.discard("b")
        assert queued.cancelled() and writer.queued == 0
        await writer.close()
        assert in_flight.cancelled()
        assert recorder.written == []

    asyncio.run(scenario())


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CoalescingWriter(Recorder().write, concurrency=0)


def test_a_waiter_that_gave_up_leaves_the_next_submitter_a_live_answer() -> None:
    """An evaluation cut at its deadline cancels the future it awaited; the value stays queued,
    and the key's next submitter must get a future that the write will answer, not the
    cancelled one (every later evaluation failed at once until the queue reached the key)."""

    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        writer.submit("busy", 0)
        await settle()  # "busy" in flight, "a" will wait behind it
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await writer.submit("a", 1)
        again = writer.submit("a", 2)
        assert not again.done()
        recorder.release("busy")
        await settle()
        recorder.release("a")
        await again
        assert recorder.written == [("busy", 0), ("a", 2)]

    asyncio.run(scenario())


def test_a_value_someone_waits_for_goes_ahead_of_the_queue() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        futures = [writer.submit(key, 0) for key in "abcd"]
        writer.submit("d", 1, urgent=True)  # queued already: moves ahead
        writer.submit("e", 1, urgent=True)  # new: behind the urgent one before it
        writer.submit("a", 1, urgent=True)  # in flight: its next value goes ahead
        for key in "adeabc":
            await settle()
            assert recorder.running == {key}
            recorder.release(key)
        await asyncio.gather(*futures)
        assert recorder.written == [
            ("a", 0), ("d", 1), ("e", 1), ("a", 1), ("b", 0), ("c", 0)
        ]  # fmt: skip
        assert writer.queued == writer.in_flight == 0

    asyncio.run(scenario())


def test_each_value_is_written_only_if_its_own_may_write_allows_when_it_is_sent() -> None:
    """A value queued by a loop that no longer acts (a fence, a new term of its Lease) is
    refused, even if a newer loop of the replica acts by the time its turn comes; a newer
    value replaces the queued one with its own may_write."""

    async def scenario() -> None:
        recorder = Recorder()
        writer: CoalescingWriter[str, int] = CoalescingWriter(recorder.write, concurrency=1)
        old_term = [True]
        first = writer.submit("a", 1)
        await settle()  # "a"=1 in flight
        queued = writer.submit("a", 2, may_write=lambda: old_term[0])
        old_term[0] = False  # the loop that queued 2 stops acting before 2 is sent
        recorder.release("a")
        await first
        await settle()
        recorder.release("a")
        with pytest.raises(WriteNotAllowedError):
            await queued
        in_flight = writer.submit("b", 3)
        await settle()
        replaced = writer.submit("b", 4, may_write=lambda: False)
        newest = writer.submit("b", 5)  # the new term's render, with its own may_write
        assert replaced is newest
        recorder.release("b")
        await in_flight
        await settle()
        recorder.release("b")
        await newest
        assert recorder.written == [("a", 1), ("b", 3), ("b", 5)]

    asyncio.run(scenario())


def test_the_encoded_writer_hands_over_the_compact_json_and_keeps_the_newest() -> None:
    async def scenario() -> None:
        written: list[tuple[str, Any]] = []
        release = asyncio.Event()

        async def write(key: str, value: bytes, may_write: MayWrite) -> None:
            await release.wait()
            assert b" " not in value  # compact: no separator spaces
            written.append((key, json.loads(value)))

        writer: EncodedWriter[str] = EncodedWriter(write, concurrency=1)
        first = writer.submit("a", {"stabilization": {"recommendations": [{"replicas": 3}]}})
        await settle()  # in flight
        writer.submit("a", {"currentReplicas": 4, "failingSince": None})
        last = writer.submit("a", {"currentReplicas": 5, "failingSince": None})
        release.set()
        await asyncio.gather(first, last)
        assert written == [
            ("a", {"stabilization": {"recommendations": [{"replicas": 3}]}}),
            ("a", {"currentReplicas": 5, "failingSince": None}),
        ]
        with pytest.raises(TypeError):  # at once, in the evaluation, not later in a writer
            writer.submit("b", {"when": object()})
        await writer.close()

    asyncio.run(scenario())
