"""Status writes that land only on the object as this replica last knew it.

Each write names the object's resourceVersion as a precondition, and the API server refuses it
(409 Conflict) when anything changed the object since. That keeps a late write out: one that a
replica let through just before its fence, and that then waited (in a stopped process, or in a
network that held its packets), would otherwise land over the next holder's and replace its
history with an older one, which a crash of the new holder would resume from.

The version named is the one the last write of this replica answered with, or else the one the
watch delivered last. On a conflict the object's version is read and the write sent once more,
only while the replica still may write: a fenced replica's second try never goes out. A user's
edit between two writes costs one read and one more write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from http import HTTPStatus
from typing import TypeVar

import kubernetes

from podpilot.kube.coalescing import EncodedWriter
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError

K = TypeVar("K", bound=Hashable)

# (key, encoded status, the version it must find, may_write) -> the version written
PatchStatus = Callable[[K, bytes, str, MayWrite], Awaitable[str | None]]
ReadVersion = Callable[[K], Awaitable[str]]  # the object's version now (a GET)
WatchedVersion = Callable[[K], str | None]  # the version the watch delivered last, if any


class ConditionalStatusWriter(EncodedWriter[K]):
    """An ``EncodedWriter`` whose writes are conditional on the object's last known version."""

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
        self._answered: dict[K, str] = {}  # the version the last write of each key made

    def discard(self, key: K) -> None:
        """Forget what is queued for ``key`` and the version written last: a loop that acts for
        it again, in a new term, starts from the watch's version."""
        super().discard(key)
        self._answered.pop(key, None)

    async def _write(self, key: K, encoded: bytes, may_write: MayWrite) -> None:
        # Taken out before the write: one that fails may still have landed, leaving no version
        # known to be current; the watch's, or a conflict, tells the next one.
        version = self._answered.pop(key, None) or self._watched_version(key)
        if not version:
            version = await self._read_version(key)
        try:
            written = await self._patch(key, encoded, version, may_write)
        except kubernetes.client.ApiException as error:
            if error.status != HTTPStatus.CONFLICT:
                raise
            if not may_write():
                raise WriteNotAllowedError from error
            written = await self._patch(key, encoded, await self._read_version(key), may_write)
        if written is not None:
            self._answered[key] = written
