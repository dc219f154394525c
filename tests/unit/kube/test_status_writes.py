"""Conditional status writes: each names the version the replica knows the object at; a
conflict is never written over: the write fails with ``StatusConflictError`` until a loop
resumes from a new read."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import kubernetes
import pytest

from podpilot.kube.fencing import MayWrite, WriteNotAllowedError
from podpilot.kube.status_writes import ConditionalStatusWriter, StatusConflictError, newer

KEY = ("ns", "web")


@dataclass
class StoredObject:
    """One object as an API server keeps it: a version that every write moves on, and a
    status written only when the write names the version it finds."""

    version: int = 10
    status: dict[str, object] = field(default_factory=dict)
    watched: str | None = "10"  # what the watch delivered last
    sent: list[str] = field(default_factory=list)  # the version each write named
    reads: int = 0
    fail_next: int | None = None  # an answer status for the next write
    hold: asyncio.Event | None = None  # a write waits for it before it reaches the server

    def edit(self) -> None:
        """Another writer's change: a user's spec edit, or a fenced replica's late write."""
        self.version += 1

    async def patch(
        self, key: tuple[str, str], encoded: bytes, version: str, may_write: MayWrite
    ) -> str | None:
        if self.hold is not None:
            await self.hold.wait()
        if not may_write():
            raise WriteNotAllowedError
        self.sent.append(version)
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            raise kubernetes.client.ApiException(status=status)
        if version != str(self.version):
            raise kubernetes.client.ApiException(status=409, reason="Conflict")
        self.version += 1
        self.status = json.loads(encoded)
        return str(self.version)

    async def read_version(self, key: tuple[str, str]) -> str:
        self.reads += 1
        return str(self.version)

    def watched_version(self, key: tuple[str, str]) -> str | None:
        return self.watched


def writer(stored: StoredObject) -> ConditionalStatusWriter[tuple[str, str]]:
    return ConditionalStatusWriter(
        stored.patch, stored.read_version, stored.watched_version, concurrency=2
    )


def write(stored: StoredObject, *statuses: dict[str, object]) -> None:
    """Write each status in turn through one writer."""

    async def each() -> None:
        writes = writer(stored)
        for status in statuses:
            await writes.submit(KEY, status)
        await writes.close()

    asyncio.run(each())


def test_the_first_write_names_the_watched_version_the_next_the_one_it_wrote() -> None:
    stored = StoredObject()
    stored.watched = "10"
    write(stored, {"desiredReplicas": 2}, {"desiredReplicas": 3})
    # The watch has not delivered the first write yet: its version is not used for the second.
    assert stored.sent == ["10", "11"]
    assert stored.status == {"desiredReplicas": 3}
    assert stored.reads == 0


def test_without_a_watched_version_the_object_is_read_first() -> None:
    stored = StoredObject(watched=None)
    write(stored, {"desiredReplicas": 2})
    assert (stored.reads, stored.sent) == (1, ["10"])


def test_a_conflict_is_not_written_over_until_a_loop_resumes_from_a_new_read() -> None:
    """Another writer changed the object (a spec edit, or a fenced replica's late status):
    what is stored may hold what this replica never read, so nothing is written over it, not
    even a status queued before the conflict came back; the loop resumes from a new read."""
    stored = StoredObject()

    async def each() -> None:
        writes = writer(stored)
        await writes.submit(KEY, {"desiredReplicas": 2})  # answered: version 11
        stored.edit()  # 12
        with pytest.raises(StatusConflictError, match="resourceVersion 11"):
            await writes.submit(KEY, {"desiredReplicas": 4})
        stored.watched = "12"  # the watch delivers the edit
        with pytest.raises(StatusConflictError):
            await writes.submit(KEY, {"desiredReplicas": 5})
        writes.resumed(KEY, "12")  # the loop read the object again and resumed from it
        await writes.submit(KEY, {"desiredReplicas": 6})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "11", "12"]
    assert stored.reads == 0
    assert stored.status == {"desiredReplicas": 6}


def test_a_fenced_writers_late_write_is_refused_and_nothing_more_goes_out() -> None:
    """The late write of a replica fenced meanwhile: the new holder's status stays."""
    stored = StoredObject()
    stored.status = {"desiredReplicas": 6}
    stored.watched = "9"  # the version this replica knew; the new holder wrote 10 since
    with pytest.raises(StatusConflictError):
        write(stored, {"desiredReplicas": 4})
    assert stored.sent == ["9"]
    assert stored.reads == 0
    assert stored.status == {"desiredReplicas": 6}


def test_a_resumed_loop_names_the_version_it_read_not_the_watchs() -> None:
    stored = StoredObject()
    stored.edit()  # 11, read by the loop as it resumed; the watch still shows 10

    async def each() -> None:
        writes = writer(stored)
        writes.resumed(KEY, "11")
        await writes.submit(KEY, {"desiredReplicas": 2})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["11"]


def test_after_a_failed_write_the_watched_version_is_named_again() -> None:
    """A write without an answer may have landed: the version it started from is not reused."""
    stored = StoredObject()
    stored.fail_next = 503

    async def each() -> None:
        writes = writer(stored)
        with pytest.raises(kubernetes.client.ApiException):
            await writes.submit(KEY, {"desiredReplicas": 2})
        await writes.submit(KEY, {"desiredReplicas": 3})  # answered: version 11
        stored.watched = "11"
        stored.fail_next = 500
        with pytest.raises(kubernetes.client.ApiException):
            await writes.submit(KEY, {"desiredReplicas": 4})
        stored.watched = "12"  # e.g. the watch delivered someone's edit
        stored.edit()
        await writes.submit(KEY, {"desiredReplicas": 5})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "10", "11", "12"]
    assert stored.status == {"desiredReplicas": 5}


def test_a_discarded_key_starts_again_from_the_watch() -> None:
    """A new term's loop writes from the status it resumed from, the watch's."""
    stored = StoredObject()

    async def each() -> None:
        writes = writer(stored)
        await writes.submit(KEY, {"desiredReplicas": 2})  # answered 11
        writes.discard(KEY)
        stored.watched = "11"
        stored.edit()
        stored.watched = "12"
        await writes.submit(KEY, {"desiredReplicas": 3})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "12"]
    assert stored.reads == 0


def test_a_write_in_flight_when_its_key_is_discarded_leaves_no_version_behind() -> None:
    """The loop ended while its write was on the way: the answer is not what the next loop
    resumed from, so the next write names the version of its own read (here the watch's)."""
    stored = StoredObject()

    async def each() -> None:
        writes = writer(stored)
        stored.hold = asyncio.Event()
        writes.submit(KEY, {"desiredReplicas": 2})
        await asyncio.sleep(0.01)  # in flight, held
        writes.discard(KEY)
        stored.hold.set()
        await asyncio.sleep(0.01)  # landed: version 11
        stored.edit()
        stored.watched = "12"
        await writes.submit(KEY, {"desiredReplicas": 3})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "12"]
    assert stored.status == {"desiredReplicas": 3}


def test_a_spec_edit_seen_with_the_status_unchanged_costs_no_conflict() -> None:
    """The loop tells the writer the watch shows its own last status at a newer version (a
    spec edit): the next write names it. After a conflict, or while a write is on the way,
    the version is not taken: only a new read clears a conflict, and the answer on the way
    is newer."""
    stored = StoredObject()

    async def each() -> None:
        writes = writer(stored)
        await writes.submit(KEY, {"desiredReplicas": 2})  # 11
        stored.edit()  # 12: the spec
        writes.unchanged_at(KEY, "12")
        await writes.submit(KEY, {"desiredReplicas": 3})  # 13
        stored.edit()  # 14, not told
        with pytest.raises(StatusConflictError):
            await writes.submit(KEY, {"desiredReplicas": 4})
        writes.unchanged_at(KEY, "14")
        with pytest.raises(StatusConflictError):
            await writes.submit(KEY, {"desiredReplicas": 5})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "12", "13"]
    assert stored.status == {"desiredReplicas": 3}


def test_a_version_older_than_the_one_known_is_not_taken() -> None:
    """The loop resumed from a read at 11; the watch, behind, still shows 10 with the same
    status: the next write names 11."""
    stored = StoredObject()
    stored.edit()  # 11

    async def each() -> None:
        writes = writer(stored)
        writes.resumed(KEY, "11")
        writes.unchanged_at(KEY, "10")
        await writes.submit(KEY, {"desiredReplicas": 2})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["11"]
    assert newer("12", "11") and not newer("10", "11") and not newer("a", "1")


def test_the_conflict_of_a_discarded_loops_write_leaves_the_next_loop_alone() -> None:
    stored = StoredObject()

    async def each() -> None:
        writes = writer(stored)
        stored.hold = asyncio.Event()
        old = writes.submit(KEY, {"desiredReplicas": 2})  # names 10, held on the way
        await asyncio.sleep(0.01)
        writes.discard(KEY)  # the loop ended (a lost term)
        stored.edit()  # 11: another replica wrote
        writes.resumed(KEY, "11")  # the next loop read it
        stored.hold.set()
        with pytest.raises(StatusConflictError):
            await old
        stored.hold = None
        await writes.submit(KEY, {"desiredReplicas": 3})
        await writes.close()

    asyncio.run(each())
    assert stored.sent == ["10", "11"]
    assert stored.status == {"desiredReplicas": 3}
