"""The Autoscaler controller's stop (``app.autoscaler.stop``) ends the Events its loops still
post: each gets a short grace, then is cancelled, and the stop returns."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import AsyncMock, Mock, create_autospec

import pytest
from tests.unit.kube.test_events import FakeClients

from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.app import autoscaler as autoscaler_app
from podpilot.app.runtime import AutoscalerParts, Runtime
from podpilot.autoscaler.api.owners import OwnerIndex
from podpilot.autoscaler.api.result import Event
from podpilot.autoscaler.controller import runner as runner_module
from podpilot.autoscaler.controller.autoscalers import AutoscalerLoops, StopFlag
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.controller.runner import Runner
from podpilot.autoscaler.controller.wakeup import Wakeups
from podpilot.kube.clients import ApiClients
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import MayWrite, always
from podpilot.settings import OperatorSettings

from .test_autoscaler_loops import BOUND, KEY, autoscaler, no_drop, until


class UnansweredEvents:
    """An ``EventPoster`` whose every post waits for an answer that never comes."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.cancelled: list[str] = []

    async def post(self, spec: EventSpec, now: datetime, *, may_write: MayWrite = always) -> bool:
        self.asked.append(spec.reason)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(spec.reason)
            raise
        return True


async def evaluation_posting_an_event(*args: object) -> tuple[None, None]:
    post = cast(Any, args[5])  # run_once's ``post``
    post(Event("Normal", "SuccessfulRescale", "New size: 2"))
    return None, None


async def evaluate_once_then_wait(
    loop: AutoscalerLoop,
    controller: object,
    evaluate_once: Any,
    stopped: StopFlag,
    *args: object,
    **kwargs: object,
) -> None:
    await evaluate_once()
    while not await stopped.wait(60):
        pass


def controller_stub() -> Any:
    controller = create_autospec(Controller, instance=True)
    controller.owners, controller.wakeups = OwnerIndex(), Wakeups()
    controller.recorder = create_autospec(Recorder, instance=True)
    controller.status = Mock(close=AsyncMock())
    controller.services = Mock()
    return controller


def test_an_event_post_that_never_answers_is_cancelled_by_the_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner_module, "run_once", evaluation_posting_an_event)
    monkeypatch.setattr(runner_module, "run_until_stopped", evaluate_once_then_wait)
    events = UnansweredEvents()

    async def synced() -> None:
        return None

    async def scenario() -> None:
        controller = controller_stub()
        watches = SimpleNamespace(synced=synced, objects=None, stop=lambda: None)
        runner = Runner(
            controller,
            cast(Any, watches),
            cast(Any, events),
            lambda namespace, name: (1, None),
            event_grace=0.05,
        )
        loops = AutoscalerLoops(runner.run, controller.wakeups, no_drop, lambda ns, name: True)
        runner.loops = loops
        runtime = Runtime(OperatorSettings())
        runtime.autoscaler = AutoscalerParts(
            controller=controller,
            watches=cast(Any, watches),
            loops=loops,
            runner=runner,
            autoscaler_watches=[],
            series_sweep=asyncio.create_task(asyncio.sleep(3600)),
        )
        loops.put(KEY, autoscaler(1))
        await until(lambda: events.asked == ["SuccessfulRescale"])

        async with asyncio.timeout(BOUND):
            await autoscaler_app.stop(runtime)

        assert events.cancelled == ["SuccessfulRescale"]
        assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing outlives the stop

    asyncio.run(scenario())


def test_an_event_queued_in_a_term_that_ended_before_it_went_out_is_not_posted() -> None:
    """The fence is asked right before the request, not when the evaluation queued it."""
    clients = FakeClients()
    term: list[tuple[int, None] | None] = [(1, None)]
    runner = Runner(
        controller_stub(),
        cast(Any, SimpleNamespace()),
        EventPoster(cast(ApiClients, clients)),
        lambda namespace, name: term[0],
    )
    about = ObjectRef("podpilot.io/v1alpha1", "Autoscaler", "web", "team", "uid-1")

    async def scenario() -> None:
        in_term = partial(runner._in_term, *KEY, (1, None))
        runner._post(about, Event("Normal", "SuccessfulRescale", "New size: 2"), in_term)
        term[0] = None  # the Lease is lost before the post task runs
        await runner.close()

    asyncio.run(scenario())
    assert clients.calls == []
