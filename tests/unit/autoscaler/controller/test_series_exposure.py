"""An Autoscaler's series only on the replica acting for it: the sweep that forgets them
within a second of a lost shard, and an evaluation that ends after the loss records nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast
from unittest.mock import Mock

import pytest

from podpilot.autoscaler.controller.exposure import forget_series_not_acted_for, lost_keys
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_once
from podpilot.autoscaler.policy.plan import Memory

from .test_status_queue import (
    NOW,
    RAW_SPEC,
    NothingWatched,
    SlowWrites,
    controller_writing_to,
    evaluating,
)
from .test_status_writes import steady

SHARD_OF = {("team", "a"): 0, ("team", "b"): 1, ("team", "c"): 1, ("ops", "d"): 2}


def shard_of(namespace: str, name: str) -> int:
    return SHARD_OF[(namespace, name)]


def test_only_the_autoscalers_of_a_lost_shard_are_forgotten() -> None:
    assert lost_keys(frozenset({1}), SHARD_OF, shard_of) == [("team", "b"), ("team", "c")]
    assert lost_keys(frozenset(), SHARD_OF, shard_of) == []


def test_the_sweep_forgets_a_lost_shards_series_and_keeps_the_rest() -> None:
    exposed = set(SHARD_OF)
    acting = [frozenset({0, 1, 2})]
    passes: list[int] = []

    def listed() -> list[tuple[str, str]]:
        passes.append(1)
        return sorted(exposed)

    async def scenario() -> None:
        sweep = asyncio.create_task(
            forget_series_not_acted_for(
                lambda: acting[0],
                shard_of,
                listed,
                lambda namespace, name: exposed.discard((namespace, name)),
                every=0.01,
            )
        )
        await asyncio.sleep(0.05)
        assert passes == [] and exposed == set(SHARD_OF)  # nothing lost: no pass at all
        acting[0] = frozenset({0, 2})  # shard 1 handed over
        await asyncio.sleep(0.05)
        assert exposed == {("team", "a"), ("ops", "d")}
        acting[0] = frozenset()  # fenced: every shard
        await asyncio.sleep(0.05)
        assert exposed == set()
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep

    asyncio.run(scenario())
    assert len(passes) == 2


@pytest.mark.parametrize("acting", [True, False])
def test_an_evaluation_that_ends_after_a_fence_records_no_series(
    monkeypatch: pytest.MonkeyPatch, acting: bool
) -> None:
    evaluating(monkeypatch, steady(NOW))
    loop = AutoscalerLoop("team", "web", Memory(None, 0, 0, None))
    writes = SlowWrites()
    writes.release.set()

    async def scenario() -> Controller:
        controller = controller_writing_to(writes)
        await run_once(
            loop,
            controller,
            RAW_SPEC,
            1,
            NothingWatched(),
            lambda _: None,
            logging.getLogger(),
            may_write=lambda: acting,
        )
        return controller

    recorder = asyncio.run(scenario()).recorder
    assert cast(Mock, recorder).evaluated.called is acting
