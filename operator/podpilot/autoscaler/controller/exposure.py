"""An Autoscaler's series only on the replica acting for it.

A loop that loses the right to act (a fence, a shard handed over) notices at its next wake-up,
up to a period later, and forgets its series then; meanwhile the new holder already exposes
them, and a dashboard summing over replicas counted the Autoscaler twice. This sweep forgets
them within a second of the loss. It costs one look at the shards acted for each second, and
one pass over the exposed Autoscalers only when a shard was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from .autoscalers import ObjectKey

SWEEP_SECONDS = 1.0


def lost_keys(
    lost: frozenset[int], exposed: Iterable[ObjectKey], shard_of: Callable[[str, str], int]
) -> list[ObjectKey]:
    """The exposed Autoscalers that are in a lost shard."""
    return [key for key in exposed if shard_of(*key) in lost]


async def forget_series_not_acted_for(
    acted_for: Callable[[], frozenset[int]],
    shard_of: Callable[[str, str], int],
    exposed: Callable[[], Iterable[ObjectKey]],
    forget: Callable[[str, str], None],
    every: float = SWEEP_SECONDS,
) -> None:
    """Until cancelled: each ``every`` seconds, forget the series of the Autoscalers in the
    shards acted for at the last look and no longer now. A series recorded after the loss is
    not (an evaluation records only while it may act: ``loop.run_once``)."""
    acting = acted_for()
    while True:
        await asyncio.sleep(every)
        now = acted_for()
        lost = acting - now
        if lost:
            for key in lost_keys(lost, exposed(), shard_of):
                forget(*key)
        acting = now


__all__ = ["SWEEP_SECONDS", "forget_series_not_acted_for", "lost_keys"]
