"""A status write refused for a conflict (the Autoscaler changed since the loop knew it) is
never written over: the loop ends without an error counted, and the runner resumes it from
the Autoscaler as stored."""

from __future__ import annotations

import asyncio
import logging
from unittest.mock import create_autospec

import pytest

from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_until_stopped
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.controller.signals import StopFlag
from podpilot.kube.status_writes import StatusConflictError

from .test_status_queue import NOW, SlowWrites, controller_writing_to, run_once_with

CONFLICT = StatusConflictError("the object changed since resourceVersion 11")


def test_a_conflict_ends_the_loop_with_no_error_counted(caplog: pytest.LogCaptureFixture) -> None:
    loop = AutoscalerLoop.resume("team", "web", {}, NOW)
    controller = create_autospec(Controller, instance=True)
    controller.recorder = create_autospec(Recorder, instance=True)
    evaluations: list[int] = []

    async def evaluate_once() -> tuple[None, None]:
        evaluations.append(1)
        raise CONFLICT

    async def scenario() -> None:
        await asyncio.wait_for(
            run_until_stopped(loop, controller, evaluate_once, StopFlag(), logging.getLogger()),
            5,
        )

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert evaluations == [1]
    controller.recorder.evaluation_error.assert_not_called()
    assert "resuming from the stored one" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_write_not_waited_for_that_met_a_conflict_ends_the_next_evaluation() -> None:
    """A status queued and not waited for came back refused: the next evaluation decides
    nothing on this loop's memory, which may lack what the stored status holds."""
    loop = AutoscalerLoop.resume("team", "web", {}, NOW)

    async def scenario() -> None:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(CONFLICT)
        loop.pending = failed
        with pytest.raises(StatusConflictError):
            await run_once_with(loop, controller_writing_to(SlowWrites()))

    asyncio.run(scenario())
    assert loop.written is None and loop.pending is None
