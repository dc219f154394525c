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
        meeting a conflict. Not after a conflict, which only a loop's new read clears, nor
        while a write is on the way, nor for a version not newer than the one known (a watch
        behind this replica's own read or write)."""
        if key in self._conflicted or key in self._writing:
            return
        if newer(version, self._known.get(key)):
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
            standing = self._finished(key)
            if error.status != HTTPStatus.CONFLICT:
                raise
            if standing:  # a discarded loop's conflict leaves the next loop's key alone
                self._conflicted.add(key)
            message = f"the object changed since resourceVersion {version}"
            raise StatusConflictError(message) from error
        except BaseException:
            self._finished(key)
            raise
        if self._finished(key) and written is not None:
            self._known[key] = written

    def _finished(self, key: K) -> bool:
        """A write of ``key`` ended; whether its loop still stands (not discarded meanwhile)."""
        self._writing.discard(key)
        forgotten = key in self._forgotten
        self._forgotten.discard(key)
        return not forgotten


def newer(version: str, known: str | None) -> bool:
    """Whether ``version`` is known to come after ``known``. resourceVersions are opaque to
    clients; the API server's are etcd revisions, whole numbers that grow, and only those
    are compared: any other is never taken for newer (a conflict then tells)."""
    if known is None:
        return True
    return version.isdigit() and known.isdigit() and int(version) > int(known)
