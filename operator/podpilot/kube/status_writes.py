"""Status writes that land only on the object as this replica last knew it.

Each write names the object's resourceVersion as a precondition, and the API server refuses it
(409 Conflict) when anything changed the object since. That keeps a late write out: one that a
replica let through just before its fence, and that then waited (in a stopped process, or in a
network that held its packets), would otherwise land over the next holder's and replace its
history with an older one, which a crash of the new holder would resume from.

The version named is the one this replica knows the object at: the answer of its last write,
or the read its loop resumed from (``resumed``), else the one the watch delivered last. A
conflict is not written over: the stored status may hold what this replica never read (the
previous holder's last write), so the write fails with ``StatusConflictError`` and the loop
resumes from the object as stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from http import HTTPStatus
from typing import TypeVar

import kubernetes

from podpilot.kube.coalescing import EncodedWriter
from podpilot.kube.fencing import MayWrite

K = TypeVar("K", bound=Hashable)

# (key, encoded status, the version it must find, may_write) -> the version written
PatchStatus = Callable[[K, bytes, str, MayWrite], Awaitable[str | None]]
ReadVersion = Callable[[K], Awaitable[str]]  # the object's version now (a GET)
WatchedVersion = Callable[[K], str | None]  # the version the watch delivered last, if any


class StatusConflictError(Exception):
    """The object changed since the version the status write named: the write was refused,
    and what is stored now may hold what this replica has not read."""


class ConditionalStatusWriter(EncodedWriter[K]):
    """An ``EncodedWriter`` whose writes are conditional on the object's known version."""

    def __init__(
        self,
        patch: PatchStatus[K],
        read_version: ReadVersion[K],
        watched_version: WatchedVersion[K],
        concurrency: int,
    ) -> None:
        super().__init__(self._write, concurrency)
        self._patch = patch
        self._read_version = read_version
        self._watched_version = watched_version
        self._known: dict[K, str] = {}  # the version this replica knows each object at
        self._writing: set[K] = set()
        self._forgotten: set[K] = set()  # discarded while a write of theirs was in flight
        self._conflicted: set[K] = set()  # no write until a loop resumes from a new read

    def resumed(self, key: K, version: str) -> None:
        """A loop resumed from the object as stored at ``version``: its first write names it."""
        self._known[key] = version
        self._conflicted.discard(key)

    def unchanged_at(self, key: K, version: str) -> None:
        """The object is at ``version`` with the status this replica last wrote (only its spec
        or metadata changed, a spec edit): its next write names that version instead of
        meeting a conflict. Not after a conflict, which only a loop's new read clears."""
        if key not in self._conflicted and key not in self._writing:
            self._known[key] = version

    def discard(self, key: K) -> None:
        """Forget what is queued for ``key`` and the version known: the next loop for it
        resumes from a read of its own. A write in flight ends, and its answer is not kept."""
        super().discard(key)
        self._known.pop(key, None)
        self._conflicted.discard(key)
        if key in self._writing:
            self._forgotten.add(key)

    async def _write(self, key: K, encoded: bytes, may_write: MayWrite) -> None:
        if key in self._conflicted:  # a status queued before the conflict was seen
            raise StatusConflictError("the object changed since this replica read it")
        # Taken out before the write: one that fails may still have landed, leaving no version
        # known to be current; the watch's, or a conflict, tells the next one.
        version = self._known.pop(key, None) or self._watched_version(key)
        if not version:
            version = await self._read_version(key)
        self._writing.add(key)
        try:
            written = await self._patch(key, encoded, version, may_write)
        except kubernetes.client.ApiException as error:
            if error.status == HTTPStatus.CONFLICT:
                self._conflicted.add(key)
                raise StatusConflictError(
                    f"the object changed since resourceVersion {version}"
                ) from error
            raise
        finally:
            self._writing.discard(key)
            forgotten = key in self._forgotten
            self._forgotten.discard(key)
        if written is not None and not forgotten:
            self._known[key] = written
