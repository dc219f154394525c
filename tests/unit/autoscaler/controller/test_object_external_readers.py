"""Object and External metrics through ``evaluate_metric``: the Value / AverageValue split."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from podpilot.autoscaler.api.spec import parse_metric
from podpilot.autoscaler.controller.metric_readers import evaluate_metric
from podpilot.autoscaler.engine import CalculatorSettings, PodInfo, Tolerances
from podpilot.autoscaler.engine.model import ReadyCondition
from podpilot.autoscaler.sources.base import EvaluationContext, ExternalReadings, ObjectReading
from podpilot.autoscaler.sources.custom import ObjectQuery
from podpilot.autoscaler.sources.external import ExternalQuery
from podpilot.autoscaler.sources.registry import MetricSources

READY = ReadyCondition(True, 0.0)


@dataclass
class FakeCustom:
    value: int
    queries: list[ObjectQuery] = field(default_factory=list)

    async def read_object(self, query: ObjectQuery) -> ObjectReading:
        self.queries.append(query)
        return ObjectReading(self.value, 0.0)


@dataclass
class FakeExternal:
    values: tuple[int, ...]
    queries: list[ExternalQuery] = field(default_factory=list)

    async def read(self, query: ExternalQuery) -> ExternalReadings:
        self.queries.append(query)
        return ExternalReadings(self.values, 0.0)


@dataclass
class FakeSources:
    custom: FakeCustom
    external: FakeExternal


def object_metric(target: dict[str, Any]) -> dict[str, Any]:
    described = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    block = {"describedObject": described, "metric": {"name": "requests"}, "target": target}
    return {"type": "Object", "object": block}


def external_metric(target: dict[str, Any]) -> dict[str, Any]:
    identifier = {"name": "queue", "selector": {"matchLabels": {"queue": "a"}}}
    return {"type": "External", "external": {"metric": identifier, "target": target}}


def context(sources: FakeSources) -> EvaluationContext:
    """Spec replicas 2 (both pods Ready) but status replicas 3, so each path shows which it uses."""
    return EvaluationContext(
        namespace="ns",
        now=1000.0,
        period=15.0,
        current_replicas=2,
        status_replicas=3,
        pod_selector="app=web",
        pods=[PodInfo("web-a", ready=READY), PodInfo("web-b", ready=READY)],
        tolerances=Tolerances(0.1, 0.1),
        settings=CalculatorSettings(),
        sources=cast(MetricSources, sources),
    )


VALUE_TEN = {"type": "Value", "value": "10"}
AVERAGE_TEN = {"type": "AverageValue", "averageValue": "10"}


@pytest.mark.parametrize(
    ("raw", "readings", "replicas", "current", "value"),
    [
        # 30 against 10 is a ratio of 3 over the 2 Ready pods.
        (object_metric(VALUE_TEN), (30_000,), 6, {"value": "30"}, 30_000),
        # 45 over 3 status replicas is 15 a pod; ceil(45 / 10) replicas.
        (object_metric(AVERAGE_TEN), (45_000,), 5, {"averageValue": "15"}, 45_000),
        # The series are summed, then treated like an Object Value.
        (external_metric(VALUE_TEN), (20_000, 10_000), 6, {"value": "30"}, 30_000),
        (external_metric(AVERAGE_TEN), (20_000, 25_000), 5, {"averageValue": "15"}, 45_000),
    ],
    ids=["Object Value", "Object AverageValue", "External Value", "External AverageValue"],
)
def test_value_and_average_value_targets_use_their_engine_math(
    raw: dict[str, Any],
    readings: tuple[int, ...],
    replicas: int,
    current: dict[str, str],
    value: int,
) -> None:
    sources = FakeSources(FakeCustom(readings[0]), FakeExternal(readings))
    result = asyncio.run(evaluate_metric(parse_metric(raw, 0), context(sources)))
    assert result.outcome.proposal is not None
    assert result.outcome.proposal.replicas == replicas
    assert (result.current, result.value) == (current, value)


def test_the_queries_name_the_described_object_and_the_metric_selector() -> None:
    sources = FakeSources(FakeCustom(1_000), FakeExternal((1_000,)))
    asyncio.run(evaluate_metric(parse_metric(object_metric(VALUE_TEN), 0), context(sources)))
    asyncio.run(evaluate_metric(parse_metric(external_metric(VALUE_TEN), 0), context(sources)))
    assert sources.custom.queries == [
        ObjectQuery("ns", "apps/v1", "Deployment", "web", "requests", "")
    ]
    assert sources.external.queries == [ExternalQuery("ns", "queue", "queue=a")]


@pytest.mark.parametrize(
    "selector",
    [
        {"matchLabels": {"queue": "orders,env!=prod"}},
        {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["db"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]},
        {"matchLabels": {"bad key": "a"}},
        {"matchLabels": {"env": "prod\n"}},
    ],
    ids=[
        "value-with-a-comma",
        "exists-with-values",
        "in-without-values",
        "key-with-a-space",
        "value-with-a-newline",
    ],
)
def test_a_selector_the_hpa_refuses_fails_the_metric_and_queries_nothing(
    selector: dict[str, Any],
) -> None:
    """Sent as text, ``queue=orders,env!=prod`` would be two requirements and the metric
    would come from other series; the HPA's LabelSelectorAsSelector refuses it instead."""
    raw = external_metric(VALUE_TEN)
    raw["external"]["metric"]["selector"] = selector
    sources = FakeSources(FakeCustom(1_000), FakeExternal((1_000,)))

    result = asyncio.run(evaluate_metric(parse_metric(raw, 0), context(sources)))

    assert result.outcome.proposal is None
    assert result.outcome.failure_reason == "FailedGetExternalMetric"
    assert "label" in (result.outcome.error or "")
    assert not result.internal_error
    assert sources.external.queries == []
