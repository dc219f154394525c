"""Reaction latency on the dev cluster: load step -> /scale patch, podpilot vs the built-in HPA.

Two scenarios, each with two KWOK Deployments that get the same load steps at the same moment:

* ``prometheus``: ``prom-pp`` is scaled by a podpilot Autoscaler with a ``Prometheus`` metric
  (PromQL on the dev cluster's Prometheus, no adapter); ``prom-hpa`` by the built-in HPA with an
  ``External`` metric that prometheus-adapter serves from the same Prometheus. Target
  AverageValue 10; the load (a series on the test exporter) flips between 10 and 40.
* ``cpu``: ``cpu-pp`` is scaled by the Autoscaler ``podpilot convert`` makes of ``cpu-hpa``'s
  HPA: Resource cpu Utilization 50 % of a 100m request, read from metrics.k8s.io
  (metrics-server scraping KWOK's simulated usage). The load, 50m or 200m in total spread over
  the pods, flips between 1 and 4 replicas.

Both sides: a 5 s period (the dev cluster's HPA sync period and ``evaluationPeriodSeconds: 5``)
and no scale-down stabilization. The latency is the time from the load change to the
Deployment's ``spec.replicas`` reaching the new count (seen by a watch). The script also polls
when the new value first shows in the metric's source (Prometheus, or metrics.k8s.io) and
reports the part after it: what each controller adds on top of the metric pipeline. Each step
starts at a random offset, so it does not phase-lock with any period.

    .venv/bin/python -m bench.reaction_latency [--steps 16] [--only prometheus|cpu]

Needs the dev cluster (see bench/devbench.py); connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.devbench import (
    Kube,
    ReplicaWatch,
    SpreadLoad,
    bench_session,
    percentile,
    sleep_while,
)
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.workloads import autoscaler, cpu_utilization, deployment, put_series

from podpilot.autoscaler.api.conversion import convert_hpa
from podpilot_dev.cluster import ClusterState

SERIES = "podpilot_test_external_benchload"
NO_WINDOW = {"scaleDown": {"stabilizationWindowSeconds": 0}}
MAX_STEPS = 40


def hpa(name: str, metric: dict[str, Any], max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "behavior": NO_WINDOW,
            "metrics": [metric],
        },
    }


@dataclass
class Scenario:
    """Two twins, how to load them, and when the load shows in the metric's source."""

    name: str
    prefix: str  # the twins are <prefix>-pp and <prefix>-hpa
    label_pp: str
    label_hpa: str
    documents: list[dict[str, Any]]
    levels: tuple[int, int]  # low, high load
    replicas: tuple[int, int]  # the counts they settle on
    set_load: Callable[[int], None]
    visible: Callable[[int], bool]  # the level is what the source now serves
    keep: Callable[[], object] = lambda: None  # called while waiting (e.g. re-spread the load)
    settle: float = 6.0  # after both reached the count, before the next step ...
    offset: float = 5.0  # ... plus a random 0..offset seconds
    poll: float = 0.1
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"pp": [], "hpa": []})
    after_visible: dict[str, list[float]] = field(default_factory=lambda: {"pp": [], "hpa": []})
    timeouts: int = 0


def prometheus_value(state: ClusterState, query: str) -> float | None:
    url = f"{state.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def prometheus_scenario(state: ClusterState, namespace: str) -> Scenario:
    def query(twin: str) -> str:
        return f'sum({SERIES}{{namespace="{namespace}",for="{twin}"}})'

    external = {
        "type": "External",
        "external": {
            "metric": {"name": "benchload", "selector": {"matchLabels": {"for": "prom-hpa"}}},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    documents = [
        deployment("prom-pp", 1),
        deployment("prom-hpa", 1),
        prometheus_server("dev", state.prometheus_url),
        autoscaler(
            "prom-pp",
            "prom-pp",
            min_replicas=1,
            max_replicas=6,
            behavior=NO_WINDOW,
            metrics=[prometheus_metric("dev", query("prom-pp"), average_value="10")],
        ),
        hpa("prom-hpa", external, 6),
    ]

    def set_load(level: int) -> None:
        for twin in ("prom-pp", "prom-hpa"):
            put_series(state, SERIES, {"namespace": namespace, "for": twin}, level)

    return Scenario(
        "prometheus",
        "prom",
        "podpilot Autoscaler, Prometheus metric",
        "built-in HPA + prometheus-adapter, External metric",
        documents,
        (10, 40),
        (1, 4),
        set_load,
        lambda level: prometheus_value(state, query("prom-pp")) == level,
    )


def cpu_scenario(kube: Kube, namespace: str) -> Scenario:
    spread = SpreadLoad(kube, namespace)
    built_in = hpa("cpu-hpa", cpu_utilization(50), 4)
    twin = hpa("cpu-pp", cpu_utilization(50), 4)
    converted = convert_hpa(twin, mode="Active").autoscaler
    converted["spec"]["evaluationPeriodSeconds"] = 5
    documents = [deployment("cpu-pp", 1), deployment("cpu-hpa", 1), converted, built_in]

    def set_load(level: int) -> None:
        for name in ("cpu-pp", "cpu-hpa"):
            spread.set(name, "cpu", level)
        spread.apply()

    def visible(level: int) -> bool:
        """metrics.k8s.io serves about ``level`` millicores in total for cpu-pp's pods."""
        served = kube.custom.list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", namespace, "pods", label_selector="app=cpu-pp"
        )
        total = sum(
            _millicores(container["usage"]["cpu"])
            for item in served["items"]
            for container in item["containers"]
        )
        return abs(total - level) <= 0.1 * level

    return Scenario(
        "cpu",
        "cpu",
        "podpilot Autoscaler, Resource cpu",
        "built-in HPA, Resource cpu",
        documents,
        (50, 200),
        (1, 4),
        set_load,
        visible,
        keep=spread.apply,
        # New pods have CPU metrics only after two metrics-server scrapes (10 s resolution);
        # step only once every pod is measured, at a random phase to the scrapes.
        settle=30.0,
        offset=10.0,
        poll=0.25,
    )


def _millicores(quantity: str) -> float:
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


def run_steps(scenario: Scenario, watch: ReplicaWatch, steps: int, timeout: float) -> None:
    scenario.set_load(scenario.levels[0])
    sleep_while(scenario.keep, 20 + scenario.settle)  # both read the low level once
    for step in range(steps):
        high = step % 2 == 0
        level, count = scenario.levels[high], scenario.replicas[high]
        scenario.set_load(level)
        started = time.monotonic()
        visible_at: float | None = None
        reached: dict[str, float] = {}
        # The load is re-spread over new pods only after both reached the count: the first
        # reaction is to the step alone, and the source probe keeps seeing the step's total.
        while len(reached) < 2 and time.monotonic() - started < timeout:
            if visible_at is None and scenario.visible(level):
                visible_at = time.monotonic()
            for side in ("pp", "hpa"):
                at = watch.first_reaching(f"{scenario.prefix}-{side}", count, started)
                if at is not None:
                    reached[side] = at
            time.sleep(scenario.poll)
        shown = []
        for side in ("pp", "hpa"):
            if side not in reached:
                scenario.timeouts += 1
                shown.append(f"{side} timed out")
                continue
            scenario.latencies[side].append(reached[side] - started)
            if visible_at is not None:
                scenario.after_visible[side].append(reached[side] - visible_at)
            shown.append(f"{side} {reached[side] - started:.1f}s")
        source = f"source {visible_at - started:.1f}s" if visible_at is not None else "source ?"
        print(
            f"{scenario.name} step {step + 1}/{steps}: load {level} -> {count} replicas: "
            f"{source}, {', '.join(shown)}",
            flush=True,
        )
        sleep_while(scenario.keep, scenario.settle + random.uniform(0, scenario.offset))


def summary(values: list[float]) -> str:
    if not values:
        return "no data"
    return (
        f"n={len(values)} p50={statistics.median(values):.1f}s "
        f"p95={percentile(values, 0.95):.1f}s max={max(values):.1f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16, help=f"per scenario, max {MAX_STEPS}")
    parser.add_argument("--step-timeout", type=float, default=90.0)
    parser.add_argument("--only", choices=("prometheus", "cpu"), default=None)
    args = parser.parse_args()
    steps = max(2, min(args.steps, MAX_STEPS))
    scenarios: list[Scenario] = []
    with bench_session("bench-reaction") as session:
        if args.only in (None, "prometheus"):
            scenarios.append(prometheus_scenario(session.state, session.namespace))
        if args.only in (None, "cpu"):
            scenarios.append(cpu_scenario(session.kube, session.namespace))
        watch = ReplicaWatch(session.kube, session.namespace)
        try:
            for scenario in scenarios:
                scenario.set_load(scenario.levels[0])  # series exist before the HPA asks
                session.kube.apply(session.namespace, scenario.documents)
                run_steps(scenario, watch, steps, args.step_timeout)
        finally:
            watch.stop()
    for scenario in scenarios:
        print(f"\n{scenario.name}: load step -> /scale patch")
        print(f"  {scenario.label_pp}: {summary(scenario.latencies['pp'])}")
        print(f"  {scenario.label_hpa}: {summary(scenario.latencies['hpa'])}")
        print("  after the value showed in the source:")
        print(f"  {scenario.label_pp}: {summary(scenario.after_visible['pp'])}")
        print(f"  {scenario.label_hpa}: {summary(scenario.after_visible['hpa'])}")
        if scenario.timeouts:
            print(f"  {scenario.timeouts} step(s) timed out after {args.step_timeout:.0f}s")
    return 0 if not any(s.timeouts for s in scenarios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
