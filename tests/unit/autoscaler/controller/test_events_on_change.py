"""An Autoscaler's Events are posted on change: a lasting condition once, each act every time."""

from __future__ import annotations

import asyncio
import logging

from tests.unit.autoscaler.controller.test_ambiguity_guard import raw_spec
from tests.unit.autoscaler.controller.test_shadow_loop import Statuses, controller_for, world

from podpilot.autoscaler.api.result import Event
from podpilot.autoscaler.controller.loop import AutoscalerLoop, run_once
from podpilot.autoscaler.policy.plan import Memory

RESCALED = Event("Normal", "SuccessfulRescale", "New size: 4; reason: cpu above target")
FAILED_READ = Event("Warning", "FailedGetResourceMetric", "no metrics returned for cpu")
WOULD_RESCALE = Event("Normal", "DryRunRescale", "would scale 2 -> 4")


def test_a_lasting_failure_is_posted_once_until_it_changes_or_clears() -> None:
    loop = AutoscalerLoop("shop", "web", Memory(None))
    assert loop.events_to_post([FAILED_READ]) == [FAILED_READ]
    assert loop.events_to_post([FAILED_READ]) == []
    changed = Event("Warning", "FailedGetResourceMetric", "the metrics API timed out")
    assert loop.events_to_post([changed]) == [changed]
    assert loop.events_to_post([]) == []
    assert loop.events_to_post([changed]) == [changed]  # cleared, then back


def test_failures_of_one_reason_are_each_posted_once_and_a_new_one_on_its_own() -> None:
    loop = AutoscalerLoop("shop", "web", Memory(None))
    memory = Event("Warning", "FailedGetResourceMetric", "no metrics returned for memory")
    assert loop.events_to_post([FAILED_READ, memory]) == [FAILED_READ, memory]
    assert loop.events_to_post([FAILED_READ, memory]) == []
    changed = Event("Warning", "FailedGetResourceMetric", "the metrics API timed out")
    assert loop.events_to_post([changed, memory]) == [changed]
    assert loop.events_to_post([memory]) == []


def test_every_rescale_is_posted_and_a_dry_run_rescale_once() -> None:
    loop = AutoscalerLoop("shop", "web", Memory(None))
    assert loop.events_to_post([RESCALED, WOULD_RESCALE]) == [RESCALED, WOULD_RESCALE]
    assert loop.events_to_post([RESCALED, WOULD_RESCALE]) == [RESCALED]


def test_an_invalid_spec_is_posted_once_while_it_lasts() -> None:
    watched, _, services = world(replicas=2, usage=100)
    controller = controller_for(services, Statuses())
    loop = AutoscalerLoop("shop", "web", Memory(None))
    posted: list[Event] = []

    async def scenario(spec: dict[str, object]) -> None:
        await run_once(loop, controller, spec, 1, watched, posted.append, logging.getLogger())

    invalid = raw_spec(metrics="cpu")
    for _ in range(3):
        asyncio.run(scenario(invalid))
    assert [event.reason for event in posted] == ["InvalidSpec"]
    asyncio.run(scenario(raw_spec(metrics=[{"type": "Pods"}])))
    assert [event.reason for event in posted] == ["InvalidSpec", "InvalidSpec"]
    assert posted[0].message != posted[1].message
