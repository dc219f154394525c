"""run_once: the status recording a rescale is written, and waited for, before the patch;
the status after the patch holds the scale event and no record any more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast
from unittest.mock import create_autospec

import pytest

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.result import EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec
from podpilot.autoscaler.controller import loop as loop_module
from podpilot.autoscaler.controller.evaluator import Services, act
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal
from podpilot.autoscaler.policy.plan import Memory, Observations, Plan, decide, rescaled
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError, always, send_if_allowed
from podpilot.kube.scale import ScaleClient, ScaleOutcomeUnknownError
from podpilot.settings import HpaSettings

from .test_status_queue import run_once_with

NOW = 1_800_000_000.0
CPU_TARGET = {"type": "Utilization", "averageUtilization": 50}
RAW_SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 1,
    "maxReplicas": 10,
    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": CPU_TARGET}}],
    "behavior": {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    },
}


Write = Callable[[tuple[str, str], Mapping[str, Any], MayWrite], Awaitable[None]]


def scale_down_from_four(spec: AutoscalerSpec) -> Plan:
    """The plan of an evaluation whose one metric wants 1 replica of the target's 4 (the
    scale-down policy allows one pod a minute: 4 -> 3)."""
    metric = spec.metrics[0]
    proposal = ReplicaProposal(replicas=1, current_value=10, usage_ratio=0.2)
    outcome = MetricResult(metric, MetricOutcome(metric.display_name, proposal))
    observations = Observations(NOW, "Deployment/web", 4, "app=web", metrics=(outcome,))
    return decide(spec, observations, Memory(None))


async def evaluate_once(loop: AutoscalerLoop, write: Write, may_write: MayWrite = always) -> None:
    controller = Controller(
        services=None,  # type: ignore[arg-type]  # evaluate is replaced
        status=CoalescingWriter(write, concurrency=1),
        bucket=TokenBucket(1.0, 1),
        backoff_base=1.0,
        backoff_cap=2.0,
        recorder=create_autospec(Recorder, instance=True),
    )
    await run_once_with(loop, controller, may_write, RAW_SPEC)


def test_the_rescale_is_in_status_before_the_patch_and_settled_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: list[Mapping[str, Any]] = []
    seen_at_patch: list[list[Mapping[str, Any]]] = []

    async def write(key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite) -> None:
        await asyncio.sleep(0.01)
        written.append(status)

    async def evaluate(*args: Any) -> EvaluationResult:
        spec, before_patch = args[0], args[-2]  # then may_write
        plan = scale_down_from_four(spec)
        await before_patch(plan)
        seen_at_patch.append(list(written))  # what a crash at the patch would leave behind
        return rescaled(plan, spec.behavior)

    monkeypatch.setattr(loop_module, "evaluate", evaluate)
    loop = AutoscalerLoop("team", "web", Memory(None))

    async def run() -> None:
        await evaluate_once(loop, write)

    asyncio.run(run())
    ((before,),) = seen_at_patch
    assert before["pendingRescale"] == {
        "timestamp": "2027-01-15T08:00:00.000000Z",
        "fromReplicas": 4,
        "toReplicas": 3,
    }
    assert before["stabilization"]["scaleDownEvents"] == []
    after = written[-1]
    assert len(written) == 2
    assert after["pendingRescale"] is None
    assert [event["replicaChange"] for event in after["stabilization"]["scaleDownEvents"]] == [1]
    assert loop.pending is None  # the write after a rescale was waited for

    # A restart from the status of the moment of the patch finds the record.
    restarted = AutoscalerLoop.resume("team", "web", before, NOW + 5)
    assert restarted.memory.pending is not None


def test_a_patch_without_an_answer_is_counted_by_the_next_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def write(key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite) -> None:
        pass

    async def evaluate(*args: Any) -> EvaluationResult:
        spec, before_patch = args[0], args[-2]  # then may_write
        await before_patch(scale_down_from_four(spec))
        raise TimeoutError("the /scale patch timed out")  # applied or not: nobody knows

    monkeypatch.setattr(loop_module, "evaluate", evaluate)
    loop = AutoscalerLoop("team", "web", Memory(None))

    async def run() -> None:
        await evaluate_once(loop, write)

    with pytest.raises(TimeoutError):
        asyncio.run(run())
    assert loop.memory.pending is not None
    assert (loop.memory.pending.from_replicas, loop.memory.pending.to_replicas) == (4, 3)


def test_a_record_refused_after_a_fence_ends_the_evaluation_before_its_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refusal reaches the evaluation: a write dropped as if written let the patch out
    with no record of it, for a replica that got its Lease back in between. The record goes
    to the writer with the loop's own may_write (its term), which the writer asks."""
    patched: list[Plan] = []
    sent: list[Mapping[str, Any]] = []

    async def refuse(key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite) -> None:
        send_if_allowed(may_write, lambda: sent.append(status))

    async def evaluate(*args: Any) -> EvaluationResult:
        spec, before_patch = args[0], args[-2]  # then may_write
        plan = scale_down_from_four(spec)
        await before_patch(plan)
        patched.append(plan)  # act() patches /scale only after before_patch returns
        return rescaled(plan, spec.behavior)

    monkeypatch.setattr(loop_module, "evaluate", evaluate)
    loop = AutoscalerLoop("team", "web", Memory(None))
    with pytest.raises(WriteNotAllowedError):
        asyncio.run(evaluate_once(loop, refuse, may_write=lambda: False))
    assert patched == [] and sent == []
    assert (loop.written, loop.persisted, loop.pending) == (None, None, None)


def test_a_patch_whose_answer_was_lost_holds_the_next_step_to_its_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4 -> 3 is applied but its answer times out; 15 s later the metric still wants 1 pod.
    The policy (one pod a minute) must hold the count at 3, and the status says why."""
    replicas = [4]
    clock = [NOW]
    written: list[Mapping[str, Any]] = []

    async def write(key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite) -> None:
        written.append(status)

    class AnswerLost:
        async def set_replicas(self, *args: Any, **kwargs: Any) -> None:
            replicas[0] = args[4]
            raise ScaleOutcomeUnknownError("FailedRescale", f"New size: {args[4]}; no answer")

    async def evaluate(*args: Any) -> EvaluationResult:
        spec, namespace, memory = args[:3]
        before_patch = args[-2]
        metric = spec.metrics[0]
        proposal = ReplicaProposal(replicas=1, current_value=10, usage_ratio=0.2)
        outcome = MetricResult(metric, MetricOutcome(metric.display_name, proposal))
        seen = Observations(clock[0], "Deployment/web", replicas[0], "app=web", metrics=(outcome,))
        services = Services(
            cast(ScaleClient, AnswerLost()), cast(MetricSources, None), HpaSettings()
        )
        return await act(decide(spec, seen, memory), spec, namespace, services, before_patch)

    monkeypatch.setattr(loop_module, "evaluate", evaluate)
    monkeypatch.setattr(loop_module.time, "time", lambda: clock[0])
    loop = AutoscalerLoop("team", "web", Memory(None))
    asyncio.run(evaluate_once(loop, write))
    assert replicas == [3]
    assert written[-1]["pendingRescale"] is None
    assert [e["replicaChange"] for e in written[-1]["stabilization"]["scaleDownEvents"]] == [1]

    clock[0] += 15
    asyncio.run(evaluate_once(loop, write))
    assert replicas == [3]
