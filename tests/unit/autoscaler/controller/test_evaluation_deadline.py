"""An evaluation whose reads never end is cut by its deadline and counted as failed: the
unanswered metric fails with the HPA's reason, the plan holds, the failure backoff applies."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast
from unittest.mock import ANY, create_autospec

import pytest

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.result import Action, EvaluationResult, Event
from podpilot.autoscaler.api.spec import AutoscalerSpec
from podpilot.autoscaler.controller import loop as loop_module
from podpilot.autoscaler.controller.evaluator import Services
from podpilot.autoscaler.controller.loop import (
    AutoscalerLoop,
    Controller,
    EvaluationTimeoutError,
    next_delay,
    run_once,
)
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.policy.plan import Memory
from podpilot.autoscaler.sources.base import ExternalReadings
from podpilot.autoscaler.sources.external import ExternalQuery
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import Scale, ScaleClient
from podpilot.settings import HpaSettings

from .test_status_queue import NothingWatched

SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 1,
    "maxReplicas": 10,
    "evaluationPeriodSeconds": 1,
    "metrics": [
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue"},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        }
    ],
}


class KnownScale:
    async def get(self, *_: object, **__: object) -> Scale:
        return Scale(spec_replicas=4, status_replicas=4, selector="app=web")


class SilentExternal:
    """An external metrics API that never answers."""

    def __init__(self) -> None:
        self.asked = 0

    async def read(self, query: ExternalQuery) -> ExternalReadings:
        self.asked += 1
        await asyncio.Event().wait()
        raise AssertionError("never answered")


class Sources:
    def __init__(self) -> None:
        self.external = SilentExternal()


async def _no_writes(key: tuple[str, str], status: Any, may_write: MayWrite) -> None:
    pass


def controller(min_deadline: float) -> Controller:
    services = Services(
        scale=cast(ScaleClient, KnownScale()), sources=cast(Any, Sources()), hpa=HpaSettings()
    )
    return Controller(
        services=services,
        status=CoalescingWriter(_no_writes, concurrency=1),
        bucket=TokenBucket(10.0, 10),
        backoff_base=5.0,
        backoff_cap=300.0,
        recorder=create_autospec(Recorder, instance=True),
        min_deadline=min_deadline,
    )


def evaluate_once(
    control: Controller, loop: AutoscalerLoop
) -> tuple[AutoscalerSpec | None, EvaluationResult | None, list[Event], float]:
    events: list[Event] = []
    started = time.monotonic()
    spec, result = asyncio.run(
        run_once(loop, control, SPEC, 1, NothingWatched(), events.append, logging.getLogger())
    )
    return spec, result, events, time.monotonic() - started


def test_a_metric_read_that_never_ends_is_a_failed_metric_at_the_deadline() -> None:
    control = controller(min_deadline=0.2)
    loop = AutoscalerLoop("ns", "web", Memory(None, last_replicas=4))
    spec, result, events, seconds = evaluate_once(control, loop)
    assert spec is not None and result is not None
    assert control.deadline(spec) == 1.0  # the period: a deadline is never shorter
    assert 1.0 <= seconds < 2.0
    assert cast(Any, control.services.sources).external.asked == 1

    assert result.action is Action.HELD
    assert (result.current_replicas, result.desired_replicas) == (4, 4)
    assert result.consecutive_failures == 1
    (active,) = [c for c in result.conditions if c.type == "ScalingActive"]
    assert (active.status, active.reason) == (False, "FailedGetExternalMetric")
    assert "no answer within the evaluation's deadline of 1 s" in active.message
    assert "FailedGetExternalMetric" in [event.reason for event in events]
    cast(Any, control.recorder).metric_read.assert_any_call("external", ANY, "timeout")

    # Counted as a failure: the next evaluation comes after the failure backoff.
    assert next_delay(loop, control, spec, result, failed=False, elapsed=seconds) < 1.0 + 5.0
    assert loop.failures == 1


def test_an_evaluation_that_hangs_past_its_reads_ends_as_a_failed_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever hangs (here the whole evaluation), twice the deadline ends it."""

    async def hang(*_: object) -> EvaluationResult:
        await asyncio.Event().wait()
        raise AssertionError("never ends")

    monkeypatch.setattr(loop_module, "evaluate", hang)
    control = controller(min_deadline=0.2)
    loop = AutoscalerLoop("ns", "web", Memory(None))
    started = time.monotonic()
    with pytest.raises(EvaluationTimeoutError, match="did not end within 2 s"):
        evaluate_once(control, loop)
    assert time.monotonic() - started < 3.0
