"""The loop with ``podpilot.io/takeover-from``: the seed made once the HPA is gone holds a
scale-down for a window from the handover, in either order of the GitOps tool's two writes, and
``status.takeover`` carries it across a restart; a revert (DryRun, no annotation) clears it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest
from tests.unit.autoscaler.controller.test_ambiguity_guard import raw_spec
from tests.unit.autoscaler.controller.test_shadow_loop import (
    SYNCED,
    Statuses,
    controller_for,
    world,
)

from podpilot.autoscaler.api.owners import HpaTarget
from podpilot.autoscaler.api.result import Action, EvaluationResult, Event
from podpilot.autoscaler.api.shadow import HpaState
from podpilot.autoscaler.api.takeover_from import TAKEOVER_FROM_ANNOTATION
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_once
from podpilot.autoscaler.controller.watched_objects import WatchedObjects
from podpilot.autoscaler.policy.plan import Memory

WINDOW = 60
ACTIVE = {"behavior": {"scaleDown": {"stabilizationWindowSeconds": WINDOW}}}
DRY_RUN = {**ACTIVE, "mode": "DryRun"}
TAKEOVER = {TAKEOVER_FROM_ANNOTATION: "hpa/web"}
HPA = HpaTarget("Deployment", "web", HpaState(1, None, 4, 4, SYNCED))


class Clock:
    """The loop's clock (``time.time``, which the loop reads), moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.start = self.now = time.time()
        monkeypatch.setattr(time, "time", lambda: self.now)

    def at(self, offset: float) -> None:
        self.now = self.start + offset


class Autoscaler:
    """One Autoscaler's loop, its status writes and its Events."""

    def __init__(self, controller: Controller, watched: WatchedObjects, statuses: Statuses):
        self.controller, self.watched, self.statuses = controller, watched, statuses
        self.loop = AutoscalerLoop("shop", "web", Memory(None))
        self.events: list[Event] = []

    def evaluate(
        self, fields: Mapping[str, Any], annotations: Mapping[str, str] | None = None
    ) -> EvaluationResult:
        async def once() -> EvaluationResult:
            _, result = await run_once(
                self.loop, self.controller, raw_spec(**fields), 1, self.watched,
                self.events.append, logging.getLogger(), annotations,
            )  # fmt: skip
            if self.loop.pending is not None:
                await self.loop.pending
            assert result is not None
            return result

        return asyncio.run(once())

    def restart(self, now: float) -> None:
        """A new operator process: the loop resumed from the last status written."""
        self.loop = AutoscalerLoop.resume("shop", "web", self.statuses.written[-1], now)

    @property
    def status(self) -> Mapping[str, Any]:
        return self.statuses.written[-1]

    def seeded_events(self) -> list[str]:
        return [event.message for event in self.events if event.reason == "TakeoverSeeded"]


def shadowing(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, Autoscaler, list[int]]:
    """Four replicas now nearly idle (5% of a 50% target: one replica would do), and a DryRun
    Autoscaler that shadowed the HPA two minutes ago (its history: 4 and 1, out of the
    window by now)."""
    clock = Clock(monkeypatch)
    watched, scale, services = world(replicas=4, usage=5)
    statuses = Statuses()
    controller = controller_for(services, statuses)
    controller.owners.put(("shop", "web"), HPA)
    autoscaler = Autoscaler(controller, watched, statuses)
    clock.at(-120)
    shadowed = autoscaler.evaluate(DRY_RUN)
    assert [item.replicas for item in shadowed.history.recommendations] == [4, 1]
    clock.at(0)
    return clock, autoscaler, scale.patches


def test_without_the_annotation_the_handover_scales_down_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, autoscaler, patches = shadowing(monkeypatch)
    autoscaler.controller.owners.remove(("shop", "web"))
    autoscaler.evaluate(ACTIVE)
    assert patches == [1]  # what the seed is for


def test_hpa_deleted_first_the_seed_holds_a_window_and_survives_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, autoscaler, patches = shadowing(monkeypatch)
    autoscaler.controller.owners.remove(("shop", "web"))  # the HPA pruned first
    taken = autoscaler.evaluate(ACTIVE, TAKEOVER)  # then the Autoscaler applied
    assert (taken.action, taken.desired_replicas) == (Action.NO_CHANGE, 4)
    record = autoscaler.status["takeover"]
    assert (record["from"], record["replicas"], record["complete"]) == ("hpa/web", 4, True)
    assert len(autoscaler.seeded_events()) == 1
    assert "the HPA is gone" in autoscaler.seeded_events()[0]

    clock.at(30)
    autoscaler.restart(clock.now)
    assert autoscaler.loop.takeover is not None and autoscaler.loop.takeover.complete
    resumed = autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert resumed.takeover_seed is None  # the record says it was made: not again
    assert resumed.desired_replicas == 4  # the seed lives on in status.stabilization
    clock.at(WINDOW - 1)
    assert autoscaler.evaluate(ACTIVE, TAKEOVER).desired_replicas == 4
    assert patches == []
    assert len(autoscaler.seeded_events()) == 1

    clock.at(30 + WINDOW + 1)  # a restart may hold it longer (history.resume), never shorter
    autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert patches == [1]
    assert autoscaler.status["takeover"]["seededAt"] == record["seededAt"]


def test_autoscaler_applied_first_the_seed_follows_the_hpa_until_it_is_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, autoscaler, patches = shadowing(monkeypatch)
    held = autoscaler.evaluate(ACTIVE, TAKEOVER)  # the HPA is still there
    assert held.action is Action.HELD
    assert held.takeover_seed is not None and held.takeover_seed.replicas == 4
    assert autoscaler.status["takeover"]["complete"] is False
    clock.at(20)
    assert autoscaler.evaluate(ACTIVE, TAKEOVER).action is Action.HELD
    assert len(autoscaler.seeded_events()) == 1  # seeded again, not posted again

    autoscaler.controller.owners.remove(("shop", "web"))  # pruned 40 s after the apply
    clock.at(40)
    taken = autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert (taken.action, taken.desired_replicas) == (Action.NO_CHANGE, 4)
    assert autoscaler.status["takeover"]["complete"] is True
    assert len(autoscaler.seeded_events()) == 2
    clock.at(40 + WINDOW - 1)  # the window counts from the handover, not from the apply
    assert autoscaler.evaluate(ACTIVE, TAKEOVER).desired_replicas == 4
    assert patches == []
    clock.at(40 + WINDOW + 1)
    autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert patches == [1]


def test_reverted_a_dry_run_with_a_leftover_record_is_normal_and_clears_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, autoscaler, patches = shadowing(monkeypatch)
    autoscaler.controller.owners.remove(("shop", "web"))
    autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert autoscaler.status["takeover"] is not None

    clock.at(10)  # the commit reverted: the HPA back, DryRun, no annotation; and a restart
    autoscaler.controller.owners.put(("shop", "web"), HPA)
    autoscaler.restart(clock.now)
    reverted = autoscaler.evaluate(DRY_RUN)
    assert (reverted.action, reverted.desired_replicas) == (Action.NO_CHANGE, 4)  # the window
    assert autoscaler.status["takeover"] is None  # null: removed by the merge patch
    assert autoscaler.status["shadow"]["hpa"] == "web"  # shadowing again
    assert patches == []

    clock.at(20)  # taken over again later: seeded again
    autoscaler.controller.owners.remove(("shop", "web"))
    again = autoscaler.evaluate(ACTIVE, TAKEOVER)
    assert again.takeover_seed is not None and again.desired_replicas == 4
    assert len(autoscaler.seeded_events()) == 2
    assert patches == []


def test_a_malformed_annotation_holds_with_a_condition_and_seeds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, autoscaler, patches = shadowing(monkeypatch)
    autoscaler.controller.owners.remove(("shop", "web"))
    held = autoscaler.evaluate(ACTIVE, {TAKEOVER_FROM_ANNOTATION: "web"})
    assert held.action is Action.HELD and held.takeover_seed is None
    condition = next(c for c in autoscaler.status["conditions"] if c["type"] == "AbleToScale")
    assert (condition["status"], condition["reason"]) == ("False", "InvalidTakeover")
    assert [e.reason for e in autoscaler.events if e.type == "Warning"] == ["InvalidTakeover"]
    assert "takeover" not in autoscaler.status
    assert patches == []
