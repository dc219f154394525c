"""The Prometheus metric type through ``evaluate_metric``: External math, failures, series."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from podpilot.autoscaler.api.spec import parse_metric
from podpilot.autoscaler.controller.metric_readers import evaluate_metric
from podpilot.autoscaler.engine import CalculatorSettings, Tolerances
from podpilot.autoscaler.engine.conditions import Reason
from podpilot.autoscaler.sources.base import EvaluationContext, MetricSourceError
from podpilot.autoscaler.sources.prometheus import PrometheusQuery
from podpilot.autoscaler.sources.promql_result import EmptyResult, ReducedValue, Reduction
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.observability import autoscaler_metrics
from podpilot.observability.autoscaler_metrics import AutoscalerSample, MetricSeries
from podpilot.observability.registry import REGISTRY


@dataclass
class FakePrometheus:
    milli: int | None
    queries: list[PrometheusQuery] = field(default_factory=list)

    async def read(self, query: PrometheusQuery) -> ReducedValue:
        self.queries.append(query)
        if self.milli is None:
            raise MetricSourceError("Prometheus server ns/main", "cannot connect", "unreachable")
        return ReducedValue(self.milli, 2, 0.0)


@dataclass
class FakeSources:
    prometheus: FakePrometheus


def metric(target: dict[str, Any], **extra: Any) -> dict[str, Any]:
    block = {"serverRef": {"name": "main"}, "query": "sum(q)", "target": target, **extra}
    return {"type": "Prometheus", "prometheus": block}


def context(source: FakePrometheus, replicas: int) -> EvaluationContext:
    return EvaluationContext(
        namespace="ns",
        now=1000.0,
        period=15.0,
        current_replicas=replicas,
        status_replicas=replicas,
        pod_selector="app=web",
        pods=[],
        tolerances=Tolerances(0.1, 0.1),
        settings=CalculatorSettings(),
        sources=cast(MetricSources, FakeSources(source)),
    )


def test_average_value_uses_the_external_per_pod_math() -> None:
    source = FakePrometheus(45_000)
    spec = parse_metric(metric({"type": "AverageValue", "averageValue": "10"}, reduction="Max"), 0)
    result = asyncio.run(evaluate_metric(spec, context(source, 2)))
    assert result.outcome.proposal is not None and result.outcome.proposal.replicas == 5
    assert (result.value, result.current) == (
        45_000,
        {"averageValue": "22500m"},
    )  # per pod, as the HPA reports
    assert source.queries == [
        PrometheusQuery("ns", "main", "sum(q)", Reduction.MAX, EmptyResult.ERROR)
    ]


def test_the_series_compare_the_value_with_the_target_as_the_target_measures_it() -> None:
    """Against an AverageValue target the value is per pod (10 pods at 30 each read 300 in all
    and show 30 against 30); against a Value target it is the total."""

    def series_of(target: dict[str, Any], replicas: int) -> MetricSeries:
        spec = parse_metric(metric(target), 0)
        result = asyncio.run(evaluate_metric(spec, context(FakePrometheus(300_000), replicas)))
        return autoscaler_metrics.value_and_target("m", result)

    per_pod = series_of({"type": "AverageValue", "averageValue": "30"}, 10)
    assert (per_pod.value, per_pod.target) == (30.0, 30.0)
    total = series_of({"type": "Value", "value": "250"}, 0)
    assert (total.value, total.target) == (300.0, 250.0)


def test_value_uses_the_external_value_math_and_scales_from_zero() -> None:
    spec = parse_metric(metric({"type": "Value", "value": "10"}, emptyResult="Zero"), 0)
    result = asyncio.run(evaluate_metric(spec, context(FakePrometheus(25_000), 0)))
    assert result.outcome.proposal is not None and result.outcome.proposal.replicas == 3
    assert spec.prometheus is not None and spec.prometheus.empty_result == "Zero"


def test_a_failed_query_is_failed_get_prometheus_metric_and_counted_by_kind() -> None:
    spec = parse_metric(metric({"type": "Value", "value": "10"}), 0)

    def errors() -> float:
        value = REGISTRY.get_sample_value(
            "podpilot_metric_source_errors_total",
            {"source": "prometheus", "reason": "unreachable"},
        )
        return value or 0.0

    before = errors()
    observe = autoscaler_metrics.RECORDER.metric_read  # as the process wires it
    result = asyncio.run(evaluate_metric(spec, context(FakePrometheus(None), 2), observe))
    assert result.outcome.failure_reason is Reason.FAILED_GET_PROMETHEUS_METRIC
    assert "Prometheus server ns/main" in (result.outcome.error or "")
    assert errors() == before + 1


def sample(*series: MetricSeries, active: bool | None = None) -> AutoscalerSample:
    return AutoscalerSample(3, 4, 1, 10, False, False, 1.7e9, 15.0, active, series)


def test_per_metric_series_follow_the_spec_and_go_with_the_autoscaler() -> None:
    def value(metric: str) -> float | None:
        labels = {"namespace": "ns", "name": "web", "metric": metric}
        return REGISTRY.get_sample_value("podpilot_autoscaler_metric_value", labels)

    recorded = sample(MetricSeries("pods/rps", 1.5, 2.0), MetricSeries("external/q", 3.0, 1.0))
    autoscaler_metrics.AUTOSCALERS.record("ns", "web", recorded)
    assert (value("pods/rps"), value("external/q")) == (1.5, 3.0)
    autoscaler_metrics.AUTOSCALERS.record("ns", "web", sample(MetricSeries("pods/rps", 2.5, 2.0)))
    assert (value("pods/rps"), value("external/q")) == (2.5, None)
    autoscaler_metrics.forget("ns", "web")
    assert value("pods/rps") is None


def test_per_autoscaler_series_carry_the_last_sample() -> None:
    labels = {"namespace": "ns", "name": "api"}

    def read(suffix: str) -> float | None:
        return REGISTRY.get_sample_value(f"podpilot_autoscaler_{suffix}", labels)

    autoscaler_metrics.AUTOSCALERS.record("ns", "api", sample(MetricSeries("pods/rps", None, 2.0)))
    assert (read("current_replicas"), read("desired_replicas")) == (3, 4)
    assert read("last_evaluation_timestamp_seconds") == 1.7e9
    assert read("active") is None  # only for minReplicas 0
    metric = {**labels, "metric": "pods/rps"}
    assert REGISTRY.get_sample_value("podpilot_autoscaler_metric_value", metric) is None
    assert REGISTRY.get_sample_value("podpilot_autoscaler_metric_target", metric) == 2.0
    autoscaler_metrics.AUTOSCALERS.record("ns", "api", sample(active=True))
    assert read("active") == 1.0
    autoscaler_metrics.forget("ns", "api")
    assert read("current_replicas") is None
