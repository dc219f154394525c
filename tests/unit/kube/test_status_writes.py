"""Conditional status writes: each names the object's last known version; a conflict is read
again and written once more, only while the replica still may write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import kubernetes
import pytest

from podpilot.kube.fencing import MayWrite, WriteNotAllowedError
from podpilot.kube.status_writes import ConditionalStatusWriter

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

    def edit(self) -> None:
        """Another writer's change: a user's spec edit, or a fenced replica's late write."""
        self.version += 1

    async def patch(
        self, key: tuple[str, str], encoded: bytes, version: str, may_write: MayWrite
    ) -> str | None:
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


def write(
    stored: StoredObject,
    *statuses: dict[str, object],
    may_write: MayWrite = lambda: True,
    between: Callable[[], None] = lambda: None,
) -> None:
    """Write each status in turn through one writer, calling ``between`` after each."""

    async def each() -> None:
        writes = writer(stored)
        for status in statuses:
            await writes.submit(KEY, status, may_write=may_write)
            between()
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


def test_a_conflict_is_read_again_and_written_once_more() -> None:
    stored = StoredObject()
    write(stored, {"desiredReplicas": 2}, {"desiredReplicas": 4}, between=stored.edit)
    # The first write's answer was 11, the edit made 12: the second write met the edit (409),
    # read the version and wrote.
    assert stored.sent == ["10", "11", "12"]
    assert stored.reads == 1
    assert stored.status == {"desiredReplicas": 4}


def test_a_fenced_writer_meeting_a_conflict_sends_nothing_more() -> None:
    """The late write of a replica fenced meanwhile: the newer status stays."""
    stored = StoredObject()
    stored.status = {"desiredReplicas": 6}
    stored.watched = "9"  # the version this replica knew; the new holder wrote 10 since
    answers = iter([True, False])  # allowed when it went out, fenced when the 409 came back
    with pytest.raises(WriteNotAllowedError):
        write(stored, {"desiredReplicas": 4}, may_write=lambda: next(answers))
    assert stored.sent == ["9"]
    assert stored.reads == 0
    assert stored.status == {"desiredReplicas": 6}


def test_a_second_conflict_is_the_writes_failure() -> None:
    stored = StoredObject()
    real_read = stored.read_version

    async def read_then_edit(key: tuple[str, str]) -> str:
        version = await real_read(key)
        stored.edit()  # another edit between the read and the second try
        return version

    stored.read_version = read_then_edit  # type: ignore[method-assign]
    stored.watched = "9"
    with pytest.raises(kubernetes.client.ApiException) as raised:
        write(stored, {"desiredReplicas": 2})
    assert raised.value.status == 409
    assert stored.sent == ["9", "10"]
    assert stored.status == {}


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
