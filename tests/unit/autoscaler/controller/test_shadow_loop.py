"""The loop beside an HPA: a DryRun Autoscaler's tally in status and metrics, and an Active
one's takeover seed held by the guard while the HPA exists, then keeping its window."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, cast
from unittest.mock import create_autospec

from tests.unit.autoscaler.controller.test_ambiguity_guard import (
    RecordingResourceMetrics,
    RecordingScale,
    Sources,
    raw_spec,
)

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.owners import HpaTarget
from podpilot.autoscaler.api.pods import CachedPod
from podpilot.autoscaler.api.result import Action, EvaluationResult
from podpilot.autoscaler.api.shadow import HpaState, tally_to_status
from podpilot.autoscaler.api.takeover import SEED_ANNOTATION, TakeoverSeed
from podpilot.autoscaler.controller.evaluator import Services
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_once
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.controller.watched_objects import PodCache, ScaleCache, WatchedObjects
from podpilot.autoscaler.engine import PodInfo, PodMetric
from podpilot.autoscaler.engine.model import ReadyCondition
from podpilot.autoscaler.policy.plan import Memory
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import Scale, ScaleClient
from podpilot.settings import HpaSettings

SYNCED = (("AbleToScale", "True", "ReadyForNewScale"), ("ScalingActive", "True", "ValidMetric"))


def world(replicas: int, usage: int) -> tuple[WatchedObjects, RecordingScale, Services]:
    """Deployment ``web`` at ``replicas``, each pod using ``usage``m of its 100m request."""
    now = time.time()
    pods = PodCache()
    samples = {}
    for index in range(replicas):
        name = f"web-{index}"
        info = PodInfo(
            name,
            start_time=now - 3600,
            ready=ReadyCondition(True, now - 3600),
            pod_level_requests={"cpu": 100},
        )
        pods.put(("shop", name), CachedPod({"app": "web"}, info))
        samples[name] = PodMetric(usage, now - 10, 60.0)
    scale = RecordingScale(Scale(replicas, replicas, "app=web"))
    services = Services(
        scale=cast(ScaleClient, scale),
        sources=cast(MetricSources, Sources(RecordingResourceMetrics(samples))),
        hpa=HpaSettings(),
    )
    return WatchedObjects(pods, ScaleCache()), scale, services


class Statuses:
    def __init__(self) -> None:
        self.written: list[Mapping[str, Any]] = []

    async def write(
        self, key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite
    ) -> None:
        self.written.append(status)


def controller_for(services: Services, statuses: Statuses) -> Controller:
    return Controller(
        services=services,
        status=CoalescingWriter(statuses.write, concurrency=1),
        bucket=TokenBucket(1.0, 1),
        backoff_base=1.0,
        backoff_cap=2.0,
        recorder=create_autospec(Recorder, instance=True),
    )


async def evaluate(
    loop: AutoscalerLoop,
    controller: Controller,
    watched: WatchedObjects,
    fields: dict[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> EvaluationResult:
    _, result = await run_once(
        loop, controller, raw_spec(**fields), 1, watched, lambda e: None,
        logging.getLogger(), annotations,
    )  # fmt: skip
    assert result is not None
    return result


def test_a_dry_run_beside_an_hpa_keeps_its_tally_in_status_and_metrics() -> None:
    watched, scale, services = world(replicas=2, usage=100)  # 100% of 50%: 4 replicas
    statuses = Statuses()
    controller = controller_for(services, statuses)
    hpa = HpaState(1, 1, 2, 4, SYNCED)
    controller.owners.put(("shop", "web-hpa"), HpaTarget("Deployment", "web", hpa))

    async def scenario() -> None:
        loop = AutoscalerLoop("shop", "web", Memory(None))
        first = await evaluate(loop, controller, watched, {"mode": "DryRun"})
        assert (first.action, first.desired_replicas) == (Action.DRY_RUN, 4)
        disagreeing = HpaState(1, 1, 2, 3, SYNCED)
        controller.owners.put(("shop", "web-hpa"), HpaTarget("Deployment", "web", disagreeing))
        await evaluate(loop, controller, watched, {"mode": "DryRun"})
        if loop.pending is not None:
            await loop.pending
        await controller.status.close()
        # A restarted operator resumes the tally from status.
        resumed = AutoscalerLoop.resume("shop", "web", statuses.written[-1], time.time())
        assert resumed.shadow is not None and loop.shadow is not None
        assert tally_to_status(resumed.shadow) == tally_to_status(loop.shadow)

    asyncio.run(scenario())
    assert scale.patches == []
    shadow = statuses.written[-1]["shadow"]
    assert (shadow["hpa"], shadow["evaluations"], shadow["agreed"]) == ("web-hpa", 2, 1)
    assert shadow["agreementRatio"] == "0.500"
    assert shadow["lastDisagreement"]["ours"]["replicas"] == 4
    assert shadow["lastDisagreement"]["hpa"]["replicas"] == 3
    assert shadow["lastDisagreement"]["ours"]["metrics"] == "cpu: 100%/50%"
    recorder = cast(Any, controller.recorder)
    assert recorder.shadowed.call_count == 2


def test_an_active_autoscaler_is_not_compared_and_keeps_its_last_tally() -> None:
    watched, _, services = world(replicas=2, usage=100)
    controller = controller_for(services, Statuses())
    loop = AutoscalerLoop("shop", "web", Memory(None))
    asyncio.run(evaluate(loop, controller, watched, {}))
    assert loop.shadow is None
    cast(Any, controller.recorder).shadowed.assert_not_called()


def test_a_takeover_seed_is_held_by_the_guard_then_keeps_the_window() -> None:
    # Five replicas, now nearly idle (10%): alone, the Autoscaler would scale down to 1.
    watched, scale, services = world(replicas=5, usage=5)
    controller = controller_for(services, Statuses())
    controller.owners.put(("shop", "web"), HpaTarget("Deployment", "web", HpaState()))
    seed = TakeoverSeed(5, time.time())
    annotations = {SEED_ANNOTATION: seed.to_annotation()}
    window = {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}

    async def scenario() -> tuple[EvaluationResult, EvaluationResult]:
        loop = AutoscalerLoop("shop", "web", Memory(None))
        held = await evaluate(loop, controller, watched, window, annotations)
        controller.owners.remove(("shop", "web"))  # the HPA is deleted
        after = await evaluate(loop, controller, watched, window, annotations)
        await controller.status.close()
        return held, after

    held, after = asyncio.run(scenario())
    assert held.action is Action.HELD
    assert [item.replicas for item in held.history.recommendations][:1] == [5]
    assert scale.patches == []
    assert after.desired_replicas == 5
    assert after.action is Action.NO_CHANGE
