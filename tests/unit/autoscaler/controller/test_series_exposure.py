"""An Autoscaler's series only on the replica acting for it: the sweep that forgets them
within a second of a lost shard, and an evaluation that ends after the loss records nothing."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast
from unittest.mock import Mock

import pytest

from podpilot.autoscaler.controller.exposure import forget_series_not_acted_for, not_acted_for
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller
from podpilot.autoscaler.policy.plan import Memory

from .test_status_queue import (
    NOW,
    SlowWrites,
    controller_writing_to,
    evaluating,
    run_once_with,
)
from .test_status_writes import steady

SHARD_OF = {("team", "a"): 0, ("team", "b"): 1, ("team", "c"): 1, ("ops", "d"): 2}


def shard_of(namespace: str, name: str) -> int:
    return SHARD_OF[(namespace, name)]


def test_the_autoscalers_of_shards_not_acted_for_are_listed() -> None:
    assert not_acted_for(frozenset({0, 2}), SHARD_OF, shard_of) == [("team", "b"), ("team", "c")]
    assert not_acted_for(frozenset({0, 1, 2}), SHARD_OF, shard_of) == []
    assert not_acted_for(frozenset(), SHARD_OF, shard_of) == list(SHARD_OF)


def test_the_sweep_forgets_what_is_not_acted_for_now_and_survives_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exposed = set(SHARD_OF)
    acting = [frozenset({0, 1, 2})]
    failing = [False]

    def listed() -> list[tuple[str, str]]:
        if failing[0]:
            failing[0] = False
            raise RuntimeError("a scrape's race")
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
        assert exposed == set(SHARD_OF)  # every shard acted for: nothing goes
        acting[0] = frozenset({0, 2})  # shard 1 handed over
        await asyncio.sleep(0.05)
        assert exposed == {("team", "a"), ("ops", "d")}
        failing[0] = True
        exposed.add(("team", "b"))  # recorded just before the loss, after a sweep
        await asyncio.sleep(0.05)
        assert exposed == {("team", "a"), ("ops", "d")}  # the next sweep after the failure
        acting[0] = frozenset()  # fenced: every shard
        await asyncio.sleep(0.05)
        assert exposed == set()
        assert not sweep.done()
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep

    asyncio.run(scenario())
    assert "a scrape's race" in caplog.text


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
        await run_once_with(loop, controller, lambda: acting)
        return controller

    recorder = cast(Mock, asyncio.run(scenario()).recorder)
    # The process-wide counters always count it; the Autoscaler's own series only while acting.
    assert recorder.evaluated.call_args.kwargs == {"exposing": acting}
