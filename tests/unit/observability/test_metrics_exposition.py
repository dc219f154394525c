"""The operator's /metrics as Prometheus reads it: served by the real registry and HTTP server,
filled with a series of every family, accepted by ``promtool check metrics``, with the
process-wide series and without ``*_created``; and the ``metric`` label of an Autoscaler's
series is the metric's name, whatever its place in spec.metrics."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from tests.observability_assets import promtool, requires_promtool
from tests.unit.autoscaler.controller.test_status_queue import RAW_SPEC
from tests.unit.autoscaler.controller.test_status_writes import steady

from podpilot.autoscaler.api.limits import LIMIT_REASONS, LimitReason
from podpilot.autoscaler.api.shadow import ShadowTally
from podpilot.autoscaler.api.spec import parse_metric, parse_spec
from podpilot.kube.coalescing import EncodedWriter
from podpilot.kube.fencing import MayWrite
from podpilot.observability import autoscaler_metrics, flannel_metrics, registry
from podpilot.observability.autoscaler_metrics import AutoscalerSample, MetricSeries, metric_label
from podpilot.observability.emptydir_metrics import emptydir_metrics
from podpilot.observability.registry import LEADER, REGISTRY, report_leadership, serve
from podpilot_dev.ports import free_port

TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


def metric_objects(*modules: ModuleType | object) -> list[MetricWrapperBase]:
    return [
        m for module in modules for m in vars(module).values() if isinstance(m, MetricWrapperBase)
    ]


def fill(metric: MetricWrapperBase) -> tuple[str, ...]:
    """One child with placeholder label values, counted, set or observed once."""
    labels = tuple(f"example-{name}" for name in metric._labelnames)
    child: Any = metric.labels(*labels) if labels else metric
    if isinstance(metric, Counter):
        child.inc()
    elif isinstance(metric, Gauge):
        child.set(1)
    elif isinstance(metric, Histogram):
        child.observe(0.2)
    return labels


@pytest.fixture
def every_family() -> Iterator[None]:
    """Every podpilot family with at least one series, removed again afterwards."""
    objects = metric_objects(autoscaler_metrics, flannel_metrics, emptydir_metrics())
    objects += list(emptydir_metrics().gauges.values())
    filled = [(metric, fill(metric)) for metric in objects]
    sample = AutoscalerSample(2, 3, 1, 10, False, False, 1.7e9, 15.0, True,
                              (MetricSeries("external/queue", 4.0, 2.0),),
                              frozenset({LimitReason.MAX_REPLICAS}))  # fmt: skip
    autoscaler_metrics.AUTOSCALERS.record("example-ns", "example", sample)
    autoscaler_metrics.RECORDER.shadowed("example-ns", "example", ShadowTally("web", 20, 19))
    yield
    autoscaler_metrics.forget("example-ns", "example")
    for metric, labels in filled:
        if labels:
            metric.remove(*labels)


def scrape() -> str:
    port = free_port()
    serve("127.0.0.1", port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


@pytest.mark.usefixtures("every_family")
def test_the_served_exposition_names_follow_prometheus_conventions() -> None:
    text = scrape()
    types = dict(TYPE_LINE.findall(text))
    podpilot = {name: kind for name, kind in types.items() if name.startswith("podpilot_")}
    assert len(podpilot) > 40, sorted(podpilot)
    for name, kind in podpilot.items():
        assert name.endswith("_total") == (kind == "counter"), f"{name} is a {kind}"
    assert "_created" not in text
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= set(
        types
    )
    assert re.search(r'^podpilot_build_info\{python_version="[^"]+",version="[^"]+"} 1\.0$',
                     text, re.MULTILINE)  # fmt: skip
    assert types["podpilot_leader"] == "gauge"


@pytest.mark.usefixtures("every_family")
@requires_promtool
def test_promtool_accepts_the_served_exposition() -> None:
    promtool("check", "metrics", stdin=scrape())


@pytest.mark.usefixtures("every_family")
def test_the_limited_gauge_has_every_reason_one_only_for_the_active_ones() -> None:
    labels = {"namespace": "example-ns", "name": "example"}
    values = {
        str(reason): REGISTRY.get_sample_value(
            "podpilot_autoscaler_limited", {**labels, "reason": str(reason)}
        )
        for reason in LIMIT_REASONS
    }
    assert values == {str(r): float(r is LimitReason.MAX_REPLICAS) for r in LIMIT_REASONS}
    autoscaler_metrics.forget("example-ns", "example")
    assert REGISTRY.get_sample_value(
        "podpilot_autoscaler_limited", {**labels, "reason": "max_replicas"}
    ) is None  # fmt: skip


@pytest.mark.usefixtures("every_family")
def test_the_shadow_tally_is_served_per_autoscaler_and_forgotten_with_it() -> None:
    served = scrape()
    labels = '{name="example",namespace="example-ns"}'
    assert f"podpilot_autoscaler_shadow_agreement_ratio{labels} 0.95" in served
    assert f"podpilot_autoscaler_shadow_evaluations{labels} 20.0" in served
    assert f"podpilot_autoscaler_shadow_agreed{labels} 19.0" in served
    assert ("example-ns", "example") in autoscaler_metrics.RECORDER.exposed()
    autoscaler_metrics.forget("example-ns", "example")
    assert "podpilot_autoscaler_shadow_agreed{" not in scrape()
    assert ("example-ns", "example") not in autoscaler_metrics.RECORDER.exposed()


def test_an_autoscaler_with_only_a_shadow_tally_is_exposed() -> None:
    tally = ShadowTally(hpa="web", evaluations=1, agreed=1)
    autoscaler_metrics.RECORDER.shadowed("shadow-ns", "only", tally)
    try:
        assert ("shadow-ns", "only") in autoscaler_metrics.RECORDER.exposed()
    finally:
        autoscaler_metrics.forget("shadow-ns", "only")
    assert ("shadow-ns", "only") not in autoscaler_metrics.RECORDER.exposed()


def test_the_leader_gauge_reads_the_elector_at_each_scrape() -> None:
    leads = [True]
    report_leadership(lambda: leads[0])
    assert REGISTRY.get_sample_value("podpilot_leader") == 1.0
    leads[0] = False
    assert REGISTRY.get_sample_value("podpilot_leader") == 0.0
    LEADER.set_function(lambda: 0.0)


def test_build_info_names_this_version() -> None:
    from podpilot import __version__

    labels = next(iter(registry.BUILD_INFO.collect())).samples[0].labels
    assert labels["version"] == __version__


METRICS = [
    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                              "averageUtilization": 60}}},
    {"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "app", "target": {"type": "Utilization",
                                                      "averageUtilization": 60}}},
    {"type": "Pods", "pods": {"metric": {"name": "rps"},
                              "target": {"type": "AverageValue", "averageValue": "10"}}},
    {"type": "External", "external": {
        "metric": {"name": "queue", "selector": {"matchLabels": {"queue": "a"}}},
        "target": {"type": "Value", "value": "30"}}},
    {"type": "External", "external": {
        "metric": {"name": "queue", "selector": {"matchLabels": {"queue": "b"}}},
        "target": {"type": "Value", "value": "30"}}},
    {"type": "Object", "object": {
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                            "name": "main"},
        "metric": {"name": "hits"}, "target": {"type": "Value", "value": "5"}}},
    {"type": "Prometheus", "prometheus": {"serverRef": {"name": "main"}, "query": "sum(a)",
                                          "target": {"type": "Value", "value": "1"}}},
    {"type": "Prometheus", "prometheus": {"serverRef": {"name": "main"}, "query": "sum(b)",
                                          "target": {"type": "Value", "value": "1"}}},
]  # fmt: skip


def labels_of(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {repr(raw): metric_label(parse_metric(raw, i)) for i, raw in enumerate(entries)}


def test_the_metric_label_names_the_metric_not_its_place() -> None:
    labels = labels_of(METRICS)
    assert labels == labels_of(list(reversed(METRICS)))
    assert len(set(labels.values())) == len(METRICS)
    assert list(labels.values())[:3] == ["resource/cpu", "containerresource/app/cpu", "pods/rps"]
    assert list(labels.values())[5] == "object/Ingress/main/hits"
    assert all(re.fullmatch(r"(external/queue|prometheus/main)/[0-9a-f]{8}", label)
               for label in [*labels.values()][3:5] + [*labels.values()][6:])  # fmt: skip


def test_an_evaluation_not_exposed_is_counted_but_leaves_no_series_of_its_own() -> None:
    """After a fence the process-wide counters still count the evaluation (its /scale patch
    may have gone out); the Autoscaler's own series are the acting replica's."""
    spec = parse_spec(RAW_SPEC)
    result = steady(1_800_000_000.0)
    counted = {"action": str(result.action)}
    before = REGISTRY.get_sample_value("podpilot_autoscaler_evaluations_total", counted) or 0.0
    key = ("fenced-ns", "web")
    try:
        autoscaler_metrics.RECORDER.evaluated(*key, spec, result, 0.01, 1.8e9, exposing=False)
        after = REGISTRY.get_sample_value("podpilot_autoscaler_evaluations_total", counted)
        assert after == before + 1
        assert key not in autoscaler_metrics.RECORDER.exposed()
        autoscaler_metrics.RECORDER.evaluated(*key, spec, result, 0.01, 1.8e9)
        assert key in autoscaler_metrics.RECORDER.exposed()
        autoscaler_metrics.count_evaluation_error(*key, "loop")
        autoscaler_metrics.AUTOSCALERS.forget(*key)
        assert key in autoscaler_metrics.RECORDER.exposed()  # its error series remains
    finally:
        autoscaler_metrics.forget(*key)
    assert key not in autoscaler_metrics.RECORDER.exposed()


def test_the_status_write_gauges_read_the_writer_at_each_scrape() -> None:
    """What the run-2 bench could not see: statuses still queued behind a slow API server."""

    async def scenario() -> None:
        release = asyncio.Event()

        async def write(key: str, value: bytes, may_write: MayWrite) -> None:
            await release.wait()

        writer: EncodedWriter[str] = EncodedWriter(write, concurrency=1)
        autoscaler_metrics.report_status_writes(lambda: writer.queued, lambda: writer.in_flight)
        for key in ("a", "b", "c"):
            writer.submit(key, {"currentReplicas": 1})
        await asyncio.sleep(0)
        assert REGISTRY.get_sample_value("podpilot_autoscaler_status_writes_queued") == 2.0
        assert REGISTRY.get_sample_value("podpilot_autoscaler_status_writes_in_flight") == 1.0
        release.set()
        await writer.close()
        assert REGISTRY.get_sample_value("podpilot_autoscaler_status_writes_queued") == 0.0

    try:
        asyncio.run(scenario())
    finally:
        autoscaler_metrics.report_status_writes(lambda: 0, lambda: 0)


def test_the_shard_gauges_read_the_replicas_shards_at_each_scrape() -> None:
    acted_for = [2]
    registry.report_shards(3, lambda: acted_for[0])
    try:
        assert REGISTRY.get_sample_value("podpilot_autoscaler_shards") == 3.0
        assert REGISTRY.get_sample_value("podpilot_autoscaler_shards_acted_for") == 2.0
        acted_for[0] = 0  # a lost shard reads at the next scrape, not at the next evaluation
        assert REGISTRY.get_sample_value("podpilot_autoscaler_shards_acted_for") == 0.0
    finally:
        registry.report_shards(1, lambda: 1)
