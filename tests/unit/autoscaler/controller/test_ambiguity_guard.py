"""One evaluation end to end with in-memory services: the ambiguity guard and F13.

The scale client and the resource metrics source are small fakes that record what they are
asked, so each test can say whether ``/scale`` was patched and whether a metric was read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from unittest.mock import create_autospec

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.owners import HpaTarget, ScaleOwner
from podpilot.autoscaler.api.pods import CachedPod
from podpilot.autoscaler.api.result import Action, EvaluationResult, Event
from podpilot.autoscaler.api.spec import parse_spec
from podpilot.autoscaler.controller.evaluator import Services, evaluate
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_once
from podpilot.autoscaler.controller.recorder import Recorder
from podpilot.autoscaler.controller.watched_objects import PodCache, ScaleCache, WatchedObjects
from podpilot.autoscaler.engine import PodInfo, PodMetric
from podpilot.autoscaler.engine.model import ReadyCondition
from podpilot.autoscaler.policy.plan import Memory
from podpilot.autoscaler.sources.base import PodReadings
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import Scale, ScaleClient
from podpilot.settings import HpaSettings

NOW = 1_800_000_000.0
CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
HPA_WEB = ScaleOwner("HorizontalPodAutoscaler", "shop", "web")


def raw_spec(**fields: Any) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [CPU],
        **fields,
    }


@dataclass
class RecordingScale:
    """``/scale`` of one target: answers ``scale``, records every patch."""

    scale: Scale
    patches: list[int] = field(default_factory=list)

    async def get(
        self, namespace: str, api_version: str, kind: str, name: str, watched: Scale | None = None
    ) -> Scale:
        return self.scale

    async def set_replicas(
        self,
        namespace: str,
        api_version: str,
        kind: str,
        name: str,
        replicas: int,
        resource_version: str = "",
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.patches.append(replicas)


@dataclass
class RecordingResourceMetrics:
    """metrics.k8s.io for one namespace: the given samples; records every read."""

    samples: dict[str, PodMetric]
    api: str = "resource metrics API"
    reads: int = 0

    async def read(self, query: object) -> PodReadings:
        self.reads += 1
        return PodReadings(self.samples)


@dataclass
class Sources:
    resource: RecordingResourceMetrics


def api_pod(name: str) -> CachedPod:
    ready = ReadyCondition(True, NOW - 3600)
    return CachedPod({"app": "api"}, PodInfo(name, start_time=NOW - 3600, ready=ready))


def world(
    replicas: int, usage: int = 200
) -> tuple[WatchedObjects, RecordingScale, RecordingResourceMetrics, Services]:
    """Deployment ``web`` with ``replicas`` and selector ``app=web``, whose selector matches no
    pod: the namespace's only pod (with a metric) is ``api-1`` of another app."""
    pods = PodCache()
    pods.put(("shop", "api-1"), api_pod("api-1"))
    watched = WatchedObjects(pods, ScaleCache())
    scale = RecordingScale(Scale(replicas, replicas, "app=web"))
    metrics = RecordingResourceMetrics({"api-1": PodMetric(usage, NOW - 10, 60.0)})
    services = Services(
        scale=cast(ScaleClient, scale),
        sources=cast(MetricSources, Sources(metrics)),
        hpa=HpaSettings(),
    )
    return watched, scale, metrics, services


def conditions(result: EvaluationResult) -> dict[str, tuple[bool, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in result.conditions}


def run(
    fields: dict[str, Any], replicas: int, others: tuple[ScaleOwner, ...] = ()
) -> tuple[EvaluationResult, RecordingScale, RecordingResourceMetrics]:
    watched, scale, metrics, services = world(replicas)
    spec = parse_spec(raw_spec(**fields))
    result = asyncio.run(
        evaluate(spec, "shop", Memory(None), watched, services, NOW, other_owners=others)
    )
    return result, scale, metrics


# --- the guard ------------------------------------------------------------------------------


def test_an_ambiguous_target_is_neither_read_nor_patched() -> None:
    # minReplicas 3 over 2 replicas: without the guard, an immediate patch to 3.
    result, scale, metrics = run({"minReplicas": 3}, replicas=2, others=(HPA_WEB,))
    assert scale.patches == []
    assert metrics.reads == 0
    assert (result.action, result.current_replicas, result.desired_replicas) == (Action.HELD, 2, 2)
    status, reason, message = conditions(result)["AbleToScale"]
    assert (status, reason) == (False, "AmbiguousScaleTarget")
    assert "HorizontalPodAutoscaler shop/web" in message


def test_without_another_owner_the_same_autoscaler_patches() -> None:
    result, scale, _ = run({"minReplicas": 3}, replicas=2)
    assert scale.patches == [3]
    assert result.rescaled


def test_dry_run_reads_and_decides_beside_an_hpa() -> None:
    dry_run = {"minReplicas": 3, "mode": "DryRun"}
    result, scale, metrics = run(dry_run, replicas=2, others=(HPA_WEB,))
    assert scale.patches == []
    assert metrics.reads == 1  # read as if it were alone
    assert (result.action, result.desired_replicas) == (Action.DRY_RUN, 3)
    assert "AmbiguousScaleTarget" not in {c.reason for c in result.conditions}


# --- F13: the selector matches no pods ------------------------------------------------------


def test_zero_replicas_with_min_one_holds_as_scaling_disabled_without_reading() -> None:
    result, scale, metrics = run({"minReplicas": 1}, replicas=0)
    assert scale.patches == []
    assert metrics.reads == 0
    assert (result.action, result.desired_replicas) == (Action.NO_CHANGE, 0)
    found = conditions(result)
    assert found["AbleToScale"][:2] == (True, "SucceededGetScale")
    assert found["ScalingActive"] == (
        False,
        "ScalingDisabled",
        "scaling is disabled since the replica count of the target is zero",
    )
    assert result.events == ()


def test_replicas_but_no_matching_pod_fail_the_resource_metric_as_the_hpa_does() -> None:
    result, scale, metrics = run({"minReplicas": 1}, replicas=2)
    assert scale.patches == []
    assert metrics.reads == 1
    assert (result.action, result.desired_replicas) == (Action.HELD, 2)
    status, reason, message = conditions(result)["ScalingActive"]
    assert (status, reason) == (False, "FailedGetResourceMetric")
    assert message.endswith(
        "unable to get metrics for resource cpu: no metrics returned from resource metrics API"
    )
    assert [event.reason for event in result.events] == [
        "FailedGetResourceMetric",
        "FailedComputeMetricsReplicas",
    ]


# --- two Active Autoscalers through the loop ------------------------------------------------


async def _evaluate_both(
    watched: WatchedObjects, services: Services, fields: dict[str, Any]
) -> dict[str, tuple[EvaluationResult | None, list[Event]]]:
    async def write(key: tuple[str, str], status: object, may_write: MayWrite) -> None:
        return None

    controller = Controller(
        services=services,
        status=CoalescingWriter(write, concurrency=1),
        bucket=TokenBucket(1.0, 1),
        backoff_base=1.0,
        backoff_cap=2.0,
        recorder=create_autospec(Recorder, instance=True),
    )
    controller.owners.put(("shop", "unrelated"), HpaTarget("Deployment", "api"))
    found: dict[str, tuple[EvaluationResult | None, list[Event]]] = {}
    # Both daemons claim their target as they start, before their first evaluation.
    controller.owners.claim("shop", "web", "Deployment", "web", active=True)
    controller.owners.claim("shop", "web-2", "Deployment", "web", active=True)
    for name in ("web", "web-2"):
        posted: list[Event] = []
        loop = AutoscalerLoop("shop", name, Memory(None))
        _, result = await run_once(
            loop, controller, raw_spec(**fields), 1, watched, posted.append, logging.getLogger()
        )
        found[name] = (result, posted)
    await controller.status.close()
    return found


def test_two_active_autoscalers_on_one_target_both_refuse_and_name_each_other() -> None:
    watched, scale, _, services = world(2)
    found = asyncio.run(_evaluate_both(watched, services, {"minReplicas": 3}))
    assert scale.patches == []
    for name, other in (("web", "web-2"), ("web-2", "web")):
        result, posted = found[name]
        assert result is not None
        assert conditions(result)["AbleToScale"][:2] == (False, "AmbiguousScaleTarget")
        (event,) = posted
        assert (event.type, event.reason) == ("Warning", "AmbiguousScaleTarget")
        assert f"Autoscaler shop/{other};" in event.message
        assert "unrelated" not in event.message
