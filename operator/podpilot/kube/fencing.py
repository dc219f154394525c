"""Writes that go out only while this replica may act for the object (it holds the leader
Lease, or the Lease of the object's shard).

The permission is asked in the pool's thread, right before the request is sent: a write can
wait for a free thread long enough for the replica to be fenced meanwhile, and a write let
through then would land over the new holder's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
MayWrite = Callable[[], bool]


def always() -> bool:
    """A ``MayWrite`` without leader election: the only replica always may."""
    return True


NOT_ALLOWED = (
    "this replica may no longer act for it (it does not hold the leader Lease, or the "
    "Autoscaler's shard with a fresh list of the shard members, or holds it in a newer term "
    "than the one the write was made in)"
)


class WriteNotAllowedError(Exception):
    """``may_write`` said no when the write was about to go out."""

    def __init__(self, message: str = NOT_ALLOWED) -> None:
        super().__init__(message)


def send_if_allowed(may_write: MayWrite, send: Callable[[], T]) -> T:
    """``send()``, if ``may_write()`` says yes at this moment; else ``WriteNotAllowedError``."""
    if not may_write():
        raise WriteNotAllowedError
    return send()


async def write_all(writes: Iterable[Callable[[], Awaitable[object]]], limit: int) -> None:
    """Run ``writes``, at most ``limit`` at a time. Every one ends before an error is raised (a
    write left running would race the caller's retry, or outlive its right to write); then
    the first ``WriteNotAllowedError`` (once a write was refused, the others' errors no longer
    matter: the caller stops), else the first failure."""
    gate = asyncio.Semaphore(limit)

    async def gated(write: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await write()

    ended = await asyncio.gather(*map(gated, writes), return_exceptions=True)
    failures = [outcome for outcome in ended if isinstance(outcome, BaseException)]
    refused = [failure for failure in failures if isinstance(failure, WriteNotAllowedError)]
    if failures:
        raise (refused or failures)[0]


__all__ = [
    "NOT_ALLOWED",
    "MayWrite",
    "WriteNotAllowedError",
    "always",
    "send_if_allowed",
    "write_all",
]
