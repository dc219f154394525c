"""Unexpected exceptions in an evaluation are failed outcomes, never silent aborts: a metric's
becomes its HPA failure reason (and the hold rule applies), one in reading the target or in
deciding becomes ``ScalingActive=False`` / ``InternalError`` with an Event posted on change,
and each is counted in ``podpilot_autoscaler_evaluation_errors_total``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.autoscaler.api.history import PendingRescale
from podpilot.autoscaler.api.pods import CachedPod, PodKey
from podpilot.autoscaler.api.result import Action, EvaluationResult, Event
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.controller.evaluator import Services, evaluate
from podpilot.autoscaler.controller.loop import AutoscalerLoop, Controller, run_once
from podpilot.autoscaler.engine import PodInfo, ScalingHistory
from podpilot.autoscaler.engine.model import ReadyCondition
from podpilot.autoscaler.policy.plan import Memory
from podpilot.autoscaler.sources.external import ExternalQuery
from podpilot.autoscaler.sources.prometheus import PrometheusQuery
from podpilot.autoscaler.sources.promql_result import ReducedValue
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import Scale, ScaleClient
from podpilot.observability.autoscaler_metrics import RECORDER
from podpilot.observability.registry import REGISTRY
from podpilot.settings import HpaSettings

NOW = 1_800_000_000.0
PROMETHEUS = {
    "type": "Prometheus",
    "prometheus": {
        "serverRef": {"name": "main"},
        "query": "sum(rate(requests[1m]))",
        "target": {"type": "Value", "value": "10"},
    },
}
EXTERNAL = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}},
}


ONE_POD_A_MINUTE = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
STEPPED = {"scaleUp": ONE_POD_A_MINUTE, "scaleDown": ONE_POD_A_MINUTE}


def spec_with(
    *metrics: Mapping[str, Any], behavior: Mapping[str, Any] | None = None
) -> AutoscalerSpec:
    raw: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": list(metrics),
    }
    if behavior is not None:
        raw["behavior"] = behavior
    return parse_spec(raw)


@dataclass
class FakeScale:
    replicas: int = 4
    get_error: Exception | None = None
    set_error: Exception | None = None
    patched: list[int] = field(default_factory=list)

    async def get(
        self, namespace: str, api_version: str, kind: str, name: str, watched: Any
    ) -> Scale:
        if self.get_error is not None:
            raise self.get_error
        return Scale(self.replicas, self.replicas, "app=web")

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
        if self.set_error is not None:
            raise self.set_error
        self.patched.append(replicas)


@dataclass
class FakePrometheus:
    milli: int = 0
    error: Exception | None = None

    async def read(self, query: PrometheusQuery) -> ReducedValue:
        if self.error is not None:
            raise self.error
        return ReducedValue(self.milli, 1, NOW)


@dataclass
class FakeExternal:
    error: Exception

    async def read(self, query: ExternalQuery) -> Any:
        raise self.error


@dataclass
class FakeSources:
    prometheus: FakePrometheus
    external: FakeExternal | None = None


READY = ReadyCondition(True, NOW - 3600)
PODS = [
    CachedPod({"app": "web"}, PodInfo(f"web-{i}", start_time=NOW - 3600, ready=READY))
    for i in range(4)
]


class NothingWatched:
    """Four ready pods of the target; its scale is read with ``GET /scale``."""

    def pods(self, key: PodKey) -> list[CachedPod]:
        return PODS

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        return None


def services(scale: FakeScale, sources: FakeSources) -> Services:
    return Services(cast(ScaleClient, scale), cast(MetricSources, sources), HpaSettings())


def run(
    spec: AutoscalerSpec, scale: FakeScale, sources: FakeSources, memory: Memory | None = None
) -> EvaluationResult:
    memory = memory or Memory(ScalingHistory.seeded(4, NOW - 600), 0, 4)
    return asyncio.run(
        evaluate(spec, "ns", memory, NothingWatched(), services(scale, sources), NOW)
    )


def condition(result: EvaluationResult, kind: str) -> tuple[bool, str, str]:
    found = [c for c in result.conditions if c.type == kind][-1]  # the last one written
    return found.status, found.reason, found.message


def test_an_overflow_in_a_metric_is_its_hpa_failure_reason_and_the_count_is_held() -> None:
    error = OverflowError("cannot convert float infinity to integer")
    scale = FakeScale()
    result = run(spec_with(PROMETHEUS), scale, FakeSources(FakePrometheus(error=error)))
    assert result.action is Action.HELD and result.desired_replicas == 4 and not scale.patched
    status, reason, message = condition(result, "ScalingActive")
    assert (status, reason) == (False, "FailedGetPrometheusMetric")
    assert "OverflowError: cannot convert float infinity to integer" in message
    assert "Traceback" not in message
    assert result.metrics[0].internal_error
    reasons = {event.reason for event in result.events}
    assert {"FailedGetPrometheusMetric", "FailedComputeMetricsReplicas"} <= reasons


def test_an_unexpected_error_in_one_metric_never_lets_another_scale_down() -> None:
    sources = FakeSources(FakePrometheus(milli=1_000), FakeExternal(ValueError("bad exponent")))
    scale = FakeScale()
    result = run(spec_with(PROMETHEUS, EXTERNAL), scale, sources)
    assert result.metrics[0].outcome.proposal is not None  # proposes fewer than 4
    assert result.metrics[0].outcome.proposal.replicas < 4
    assert result.metrics[1].outcome.failure_reason == "FailedGetExternalMetric"
    assert "ValueError: bad exponent" in (result.metrics[1].outcome.error or "")
    assert result.desired_replicas == 4 and not scale.patched


def test_an_unexpected_error_reading_the_target_is_a_failed_evaluation() -> None:
    scale = FakeScale(get_error=RuntimeError("connection pool is closed"))
    memory = Memory(ScalingHistory.seeded(4, NOW - 600), 2, 4)
    result = run(spec_with(PROMETHEUS), scale, FakeSources(FakePrometheus(milli=1_000)), memory)
    assert result.action is Action.FAILED and result.error_stage == "read"
    assert (result.current_replicas, result.desired_replicas) == (4, 4)
    assert result.consecutive_failures == 2 and result.history == memory.history
    status, reason, message = condition(result, "ScalingActive")
    assert (status, reason) == (False, "InternalError")
    assert message == (
        "the evaluation failed while reading the target: RuntimeError: connection pool is closed"
    )
    assert result.events == (Event("Warning", "InternalError", message),)


def test_a_step_recorded_before_a_restart_is_counted_by_an_evaluation_that_fails() -> None:
    """The patch a previous process recorded (status.pendingRescale) is in the history of a
    failed evaluation too: the status written after it keeps the step."""
    scale = FakeScale(get_error=RuntimeError("connection pool is closed"))
    pending = PendingRescale(from_replicas=4, to_replicas=3, timestamp=NOW - 5)
    memory = Memory(ScalingHistory.seeded(4, NOW - 600), 0, 4, pending=pending)
    spec = spec_with(PROMETHEUS, behavior=STEPPED)
    result = run(spec, scale, FakeSources(FakePrometheus(milli=1_000)), memory)
    assert result.action is Action.FAILED and result.error_stage == "read"
    assert [(e.replica_change, e.timestamp) for e in result.history.scale_down_events] == [
        (1, NOW - 5)
    ]


def test_an_unexpected_error_deciding_is_a_failed_evaluation() -> None:
    # A memory whose history is not a history (as a corrupted status could give) makes the
    # engine raise inside decide.
    corrupt = Memory(cast(ScalingHistory, "not a history"), 0, 4)
    result = run(spec_with(PROMETHEUS), FakeScale(), FakeSources(FakePrometheus(1_000)), corrupt)
    assert result.action is Action.FAILED and result.error_stage == "decide"
    status, reason, message = condition(result, "ScalingActive")
    assert (status, reason) == (False, "InternalError")
    assert message.startswith("the evaluation failed while deciding: AttributeError: ")
    assert result.desired_replicas == 4


def test_an_unexpected_error_patching_scale_is_a_failed_update() -> None:
    scale = FakeScale(set_error=ConnectionResetError("reset by peer"))
    spec = spec_with(PROMETHEUS, behavior=STEPPED)
    result = run(spec, scale, FakeSources(FakePrometheus(milli=80_000)))
    assert result.action is Action.FAILED and result.error_stage == "act"
    assert not result.rescaled
    status, reason, message = condition(result, "AbleToScale")
    assert (status, reason, message) == (
        False,
        "FailedUpdateScale",
        "ConnectionResetError: reset by peer",
    )
    # The patch may have gone out before the error: its step counts.
    assert [event.replica_change for event in result.history.scale_up_events] == [1]


def test_a_long_error_text_is_cut_to_one_short_line() -> None:
    error = ValueError("line one\n" + "x" * 5000)
    result = run(spec_with(PROMETHEUS), FakeScale(), FakeSources(FakePrometheus(error=error)))
    message = result.metrics[0].outcome.error or ""
    assert "\n" not in message and len(message) < 400 and message.endswith("...")


class StatusWrites:
    def __init__(self) -> None:
        self.written: list[Mapping[str, Any]] = []

    async def write(
        self, key: tuple[str, str], status: Mapping[str, Any], may_write: MayWrite
    ) -> None:
        self.written.append(status)


def test_the_loop_posts_the_event_on_change_writes_the_condition_and_counts_the_error() -> None:
    def errors(stage: str) -> float:
        labels = {"namespace": "ns", "name": "web", "stage": stage}
        return (
            REGISTRY.get_sample_value("podpilot_autoscaler_evaluation_errors_total", labels) or 0.0
        )

    scale = FakeScale(get_error=RuntimeError("boom"))
    writes = StatusWrites()
    posted: list[Event] = []
    raw_spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [PROMETHEUS],
    }

    async def scenario() -> None:
        controller = Controller(
            services=services(scale, FakeSources(FakePrometheus(1_000))),
            status=CoalescingWriter(writes.write, concurrency=1),
            bucket=TokenBucket(1.0, 1),
            backoff_base=1.0,
            backoff_cap=2.0,
            recorder=RECORDER,
        )
        loop = AutoscalerLoop("ns", "web", Memory(None, 0, 4))
        for _ in range(3):
            await run_once(
                loop, controller, raw_spec, 1, NothingWatched(), posted.append, logging.getLogger()
            )
            for _ in range(5):
                await asyncio.sleep(0)

    RECORDER.forget("ns", "web")
    asyncio.run(scenario())
    assert [event.reason for event in posted] == ["InternalError"]  # once, not every period
    conditions = writes.written[-1]["conditions"]
    active = next(c for c in conditions if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "InternalError")
    assert errors("read") == 3
    RECORDER.forget("ns", "web")
    assert (
        REGISTRY.get_sample_value(
            "podpilot_autoscaler_evaluation_errors_total",
            {"namespace": "ns", "name": "web", "stage": "read"},
        )
        is None
    )


def test_metric_stage_errors_are_counted_per_autoscaler() -> None:
    error = OverflowError("too big")
    result = run(
        spec_with(PROMETHEUS, PROMETHEUS), FakeScale(), FakeSources(FakePrometheus(error=error))
    )
    labels = {"namespace": "ns", "name": "api", "stage": "metric"}
    RECORDER.forget("ns", "api")
    RECORDER.evaluated("ns", "api", spec_with(PROMETHEUS, PROMETHEUS), result, 0.01, NOW)
    assert REGISTRY.get_sample_value("podpilot_autoscaler_evaluation_errors_total", labels) == 2
    internal = {"source": "prometheus", "reason": "internal"}
    before = REGISTRY.get_sample_value("podpilot_metric_source_errors_total", internal) or 0.0
    asyncio.run(
        evaluate(
            spec_with(PROMETHEUS),
            "ns",
            Memory(None, 0, 4),
            NothingWatched(),
            services(FakeScale(), FakeSources(FakePrometheus(error=error))),
            NOW,
            RECORDER.metric_read,
        )
    )
    assert REGISTRY.get_sample_value("podpilot_metric_source_errors_total", internal) == before + 1
    RECORDER.forget("ns", "api")
