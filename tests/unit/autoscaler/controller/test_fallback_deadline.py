"""The fallback's deadline across a restart (``failingSince`` in status) and in the loop's
delay until the next evaluation."""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import create_autospec

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.result import EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.api.status import render_status
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, next_delay
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal, ScalingHistory
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.policy.plan import Memory, Observations, decide
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite

T0 = 1_800_000_000.25  # the first failed evaluation (a fraction, as time.time() gives)
SPEC = parse_spec(
    {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 10,
        "evaluationPeriodSeconds": 15,
        "fallback": {"policy": "Static", "replicas": 4, "failureThreshold": 3},  # 45 s
    }
)


def reading(spec: AutoscalerSpec, replicas: int | None) -> MetricResult:
    metric = spec.metrics[0]
    if replicas is None:
        outcome = MetricOutcome.failed(
            metric.display_name, Reason.FAILED_GET_RESOURCE_METRIC, "metrics API unreachable"
        )
    else:
        proposal = ReplicaProposal(replicas=replicas, current_value=50, usage_ratio=1.0)
        outcome = MetricOutcome(metric.display_name, proposal)
    return MetricResult(metric, outcome)


def evaluated(at: float, memory: Memory, replicas: int | None = None) -> EvaluationResult:
    observations = Observations(
        at, "Deployment/web", 2, "app=web", metrics=(reading(SPEC, replicas),)
    )
    return decide(SPEC, observations, memory).result


def restarted(result: EvaluationResult, at: float) -> Memory:
    """The memory a restarted operator resumes from the status written after ``result``."""
    status: dict[str, Any] = render_status(result, SPEC, {}, 1)
    return AutoscalerLoop.resume("team", "web", status, at).memory


def test_a_restart_keeps_the_first_failure_and_so_the_deadline() -> None:
    first = evaluated(T0, Memory(ScalingHistory.seeded(2, T0 - 600)))
    second = evaluated(T0 + 5, Memory.after(first))
    memory = restarted(second, T0 + 30)
    assert memory.failing_since == T0
    assert memory.consecutive_failures == 2
    assert not evaluated(T0 + 44.9, memory).fallback_applied
    due = evaluated(T0 + 45, memory)
    assert (due.fallback_applied, due.desired_replicas) == (True, 4)


def test_a_restart_during_the_fallback_still_reports_its_end() -> None:
    first = evaluated(T0, Memory(ScalingHistory.seeded(2, T0 - 600)))
    active = evaluated(T0 + 45, Memory.after(first))
    memory = restarted(active, T0 + 50)
    assert memory.fallback_active
    back = evaluated(T0 + 60, memory, replicas=2)
    assert "FallbackDeactivated" in [event.reason for event in back.events]
    assert render_status(back, SPEC, {}, 1)["failingSince"] is None  # a merge patch removes it


def test_a_failing_streak_recorded_without_its_start_counts_from_the_restart() -> None:
    first = evaluated(T0, Memory(ScalingHistory.seeded(2, T0 - 600)))
    status = render_status(first, SPEC, {}, 1)
    del status["failingSince"]  # written by an operator from before the field
    memory = AutoscalerLoop.resume("team", "web", status, T0 + 100).memory
    assert memory.failing_since == T0 + 100  # the fallback is delayed, never brought forward


def controller(backoff_base: float) -> Controller:
    async def write(key: tuple[str, str], status: object, may_write: MayWrite) -> None:
        return None

    return Controller(
        services=None,  # type: ignore[arg-type]  # next_delay never evaluates
        status=CoalescingWriter(write, concurrency=1),
        bucket=TokenBucket(100.0, 100),
        backoff_base=backoff_base,
        backoff_cap=300.0,
        recorder=create_autospec(Recorder, instance=True),
    )


def test_the_retry_after_a_failure_is_not_later_than_the_fallback_deadline() -> None:
    now = time.time()
    loop = AutoscalerLoop("team", "web", Memory(None))
    almost_due = evaluated(now, Memory(ScalingHistory.seeded(2, now - 600), 3, 2, None, now - 44.5))
    assert not almost_due.fallback_applied
    delay = next_delay(loop, controller(10.0), SPEC, almost_due, False, 0.0)
    assert 0.0 < delay <= 0.55 + 0.01  # not the 10 s backoff: ends just after the deadline


def test_the_retry_is_the_backoff_when_the_deadline_is_further_or_passed() -> None:
    now = time.time()
    far = evaluated(now, Memory(ScalingHistory.seeded(2, now - 600), 1, 2, None, now - 5))
    loop = AutoscalerLoop("team", "web", Memory(None))
    assert next_delay(loop, controller(10.0), SPEC, far, False, 0.0) == 10.0
    active = evaluated(now, Memory(ScalingHistory.seeded(2, now - 600), 9, 2, None, now - 100))
    assert active.fallback_applied
    loop = AutoscalerLoop("team", "web", Memory(None))
    assert next_delay(loop, controller(10.0), SPEC, active, False, 0.0) == 15.0  # rescaled 2 -> 4
