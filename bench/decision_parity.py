"""Decision parity on the dev cluster: settled replicas, built-in HPA vs podpilot (Active).

Each pair is two KWOK Deployments with the same spec: ``<pair>-hpa`` scaled by the built-in HPA,
``<pair>-pp`` by the Autoscaler that ``podpilot convert`` makes of the same HPA (mode Active,
evaluated every 5 s like the dev cluster's HPA sync period). The pairs cover the metric paths and
the engine's behavior rules:

* ``cpu``: Resource cpu Utilization 50 % (metrics-server on KWOK usage), scale-down window 15 s;
* ``mem``: Resource memory AverageValue 100Mi, scale-down window 20 s;
* ``ext``: External AverageValue 10 through prometheus-adapter, the controller's default window;
* ``pol``: External like ``ext`` with scale-up and scale-down policies and windows.

A seeded trace of demand levels (steps, ramps, noise; printed first) drives every pair: a demand
``d`` is ``d x 50m`` CPU or ``d x 100Mi`` memory spread over the pods, or an external value
``d x 10``. After each step the script waits until every pair has settled: neither twin changed
its replica count for the pair's settle window (its scale-down window + 3 periods + the metric
pipeline's delay), at most ``--step-timeout`` seconds. It then compares the two counts, prints
the fraction identical and every difference with podpilot's decision trace and the HPA's status.

    .venv/bin/python -m bench.decision_parity [--steps 16] [--seed 10] [--step-timeout 240]

Needs the dev cluster (see bench/devbench.py); connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.devbench import (
    Kube,
    ReplicaWatch,
    Session,
    SpreadLoad,
    bench_session,
)
from tests.e2e.workloads import cpu_utilization, deployment, put_series

from podpilot.autoscaler.api.conversion import convert_hpa
from podpilot.autoscaler.api.explanation import condition_line, explain
from podpilot_dev.cluster import ClusterState

PERIOD = 5  # the dev cluster's HPA sync period, and the Autoscalers' evaluationPeriodSeconds
DEFAULT_WINDOW = 30  # the dev cluster's --horizontal-pod-autoscaler-downscale-stabilization
RESOURCE_PIPELINE = 15  # metrics-server resolution 10 s + podpilot's 5 s shared reading
EXTERNAL_PIPELINE = 3  # Prometheus scrapes the exporter every 2 s
SERIES = "podpilot_test_external_parity"
MAX_STEPS = 40


@dataclass(frozen=True)
class Pair:
    name: str
    metric: dict[str, Any]
    load: str  # "cpu" | "memory" | "external"
    behavior: dict[str, Any] | None
    window: int  # the scale-down stabilization window in effect
    pipeline: int
    extra_settle: int = 0  # e.g. a policy period that spaces successive changes

    @property
    def settle(self) -> int:
        return self.window + 3 * PERIOD + self.pipeline + self.extra_settle

    def hpa(self, twin: str) -> dict[str, Any]:
        metric = copy.deepcopy(self.metric)
        if metric["type"] == "External":
            metric["external"]["metric"]["selector"] = {"matchLabels": {"for": twin}}
        spec: dict[str, Any] = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": twin},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [metric],
        }
        if self.behavior is not None:
            spec["behavior"] = copy.deepcopy(self.behavior)
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": twin},
            "spec": spec,
        }

    def autoscaler(self, twin: str) -> dict[str, Any]:
        converted = convert_hpa(self.hpa(twin), mode="Active").autoscaler
        converted["spec"]["evaluationPeriodSeconds"] = PERIOD
        return converted


def _external(target: str) -> dict[str, Any]:
    return {
        "type": "External",
        "external": {
            "metric": {"name": "parity"},
            "target": {"type": "AverageValue", "averageValue": target},
        },
    }


PAIRS = (
    Pair(
        "cpu",
        cpu_utilization(50),
        "cpu",
        {"scaleDown": {"stabilizationWindowSeconds": 15}},
        15,
        RESOURCE_PIPELINE,
    ),
    Pair(
        "mem",
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "100Mi"},
            },
        },
        "memory",
        {"scaleDown": {"stabilizationWindowSeconds": 20}},
        20,
        RESOURCE_PIPELINE,
    ),
    Pair("ext", _external("10"), "external", None, DEFAULT_WINDOW, EXTERNAL_PIPELINE),
    Pair(
        "pol",
        _external("10"),
        "external",
        {
            "scaleUp": {
                "stabilizationWindowSeconds": 10,
                "selectPolicy": "Max",
                "policies": [
                    {"type": "Pods", "value": 2, "periodSeconds": 10},
                    {"type": "Percent", "value": 50, "periodSeconds": 10},
                ],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": 20,
                "selectPolicy": "Min",
                "policies": [
                    {"type": "Pods", "value": 2, "periodSeconds": 10},
                    {"type": "Percent", "value": 30, "periodSeconds": 10},
                ],
            },
        },
        20,
        EXTERNAL_PIPELINE,
        extra_settle=10,
    ),
)


def load_trace(seed: int, steps: int) -> list[tuple[str, float]]:
    """Demand levels in replica units: jumps, ramps of 2-4 steps, and noise around a level."""
    rng = random.Random(seed)
    trace: list[tuple[str, float]] = []
    level = 1.0
    while len(trace) < steps:
        kind = rng.choice(("step", "step", "ramp", "noise"))
        if kind == "step":
            level = round(rng.uniform(0.6, 9.0), 2)
            trace.append(("step", level))
        elif kind == "ramp":
            goal = rng.uniform(0.6, 9.0)
            count = rng.randint(2, 4)
            start = level
            for index in range(1, count + 1):
                level = round(start + (goal - start) * index / count, 2)
                trace.append(("ramp", level))
        else:
            level = round(max(0.5, level * (1 + rng.uniform(-0.06, 0.06))), 2)
            trace.append(("noise", level))
    return trace[:steps]


class Loads:
    """Applies one demand level to both twins of every pair at the same moment."""

    def __init__(self, state: ClusterState, kube: Kube, namespace: str) -> None:
        self.state, self.namespace = state, namespace
        self.spread = SpreadLoad(kube, namespace)

    def set(self, demand: float) -> None:
        for pair in PAIRS:
            for twin in (f"{pair.name}-hpa", f"{pair.name}-pp"):
                if pair.load == "cpu":
                    self.spread.set(twin, "cpu", round(demand * 50))
                elif pair.load == "memory":
                    self.spread.set(twin, "memory", round(demand * 100))
                else:
                    labels = {"namespace": self.namespace, "for": twin}
                    put_series(self.state, SERIES, labels, round(demand * 10, 2))
        self.spread.apply()


@dataclass
class Outcome:
    step: int
    kind: str
    demand: float
    pair: str
    hpa: int | None
    pp: int | None
    settled: bool
    detail: str = ""

    @property
    def same(self) -> bool:
        return self.hpa == self.pp


def difference_detail(kube: Kube, namespace: str, pair: str) -> str:
    """podpilot's decision trace and the HPA's status, to read a difference by."""
    autoscaler = kube.json("get", "autoscaler", f"{pair}-pp", "-n", namespace)
    hpa = kube.json("get", "hpa", f"{pair}-hpa", "-n", namespace).get("status", {})
    lines = ["  podpilot:", *(f"    {line}" for line in explain(autoscaler).splitlines())]
    lines.append(
        f"  HPA: currentReplicas {hpa.get('currentReplicas')} desiredReplicas "
        f"{hpa.get('desiredReplicas')} lastScaleTime {hpa.get('lastScaleTime')}"
    )
    for metric in hpa.get("currentMetrics") or []:
        lines.append(f"    current metric: {metric}")
    lines += [f"    {condition_line(c)}" for c in hpa.get("conditions") or []]
    return "\n".join(lines)


def wait_settled(
    watch: ReplicaWatch, started: float, timeout: float, keep_load: Callable[[], object]
) -> dict[str, bool]:
    """Wait until no twin of any pair changed within its pair's settle window (or timeout)."""
    settled: dict[str, bool] = {}
    while True:
        keep_load()
        now = time.monotonic()
        for pair in PAIRS:
            changes = [watch.last_change(f"{pair.name}-{side}") for side in ("hpa", "pp")]
            quiet_since = max([started, *(c for c in changes if c is not None)])
            settled[pair.name] = now - quiet_since >= pair.settle
        if all(settled.values()) or now - started >= timeout:
            return settled
        time.sleep(1.0)


def run_trace(session: Session, trace: list[tuple[str, float]], timeout: float) -> list[Outcome]:
    state, kube, namespace = session.state, session.kube, session.namespace
    loads = Loads(state, kube, namespace)
    loads.set(1.0)  # series exist before the HPAs ask the adapter for them
    documents: list[dict[str, Any]] = []
    for pair in PAIRS:
        documents += [deployment(f"{pair.name}-hpa", 1), deployment(f"{pair.name}-pp", 1)]
    kube.apply(namespace, documents)
    kube.apply(
        namespace,
        [doc for p in PAIRS for doc in (p.hpa(f"{p.name}-hpa"), p.autoscaler(f"{p.name}-pp"))],
    )
    watch = ReplicaWatch(kube, namespace)
    outcomes: list[Outcome] = []
    try:
        started = time.monotonic()
        wait_settled(watch, started, timeout, loads.spread.apply)
        print(f"start: demand 1.0, settled in {time.monotonic() - started:.0f}s")
        for index, (kind, demand) in enumerate(trace, start=1):
            loads.set(demand)
            started = time.monotonic()
            settled = wait_settled(watch, started, timeout, loads.spread.apply)
            took = time.monotonic() - started
            row = []
            for pair in PAIRS:
                hpa, pp = watch.current(f"{pair.name}-hpa"), watch.current(f"{pair.name}-pp")
                outcome = Outcome(index, kind, demand, pair.name, hpa, pp, settled[pair.name])
                if not outcome.same:
                    outcome.detail = difference_detail(kube, namespace, pair.name)
                outcomes.append(outcome)
                mark = "" if outcome.same else " DIFFERENT"
                mark += "" if outcome.settled else " (not settled)"
                row.append(f"{pair.name} {hpa}/{pp}{mark}")
            print(
                f"step {index:2}/{len(trace)} {kind:5} demand {demand:5.2f}: "
                f"{', '.join(row)}  [hpa/podpilot, {took:.0f}s]",
                flush=True,
            )
    finally:
        watch.stop()
    return outcomes


def report(outcomes: list[Outcome]) -> bool:
    same = sum(o.same for o in outcomes)
    unsettled = [o for o in outcomes if not o.settled]
    print(
        f"\nsettled replica counts identical: {same}/{len(outcomes)} "
        f"({100 * same / max(len(outcomes), 1):.1f} %; target >= 99 %)"
    )
    for pair in PAIRS:
        rows = [o for o in outcomes if o.pair == pair.name]
        print(f"  {pair.name}: {sum(o.same for o in rows)}/{len(rows)} identical")
    if unsettled:
        print(f"{len(unsettled)} (pair, step) outcomes hit the step timeout before settling")
    for outcome in outcomes:
        if not outcome.same:
            print(
                f"\nstep {outcome.step} ({outcome.kind}, demand {outcome.demand}) pair "
                f"{outcome.pair}: HPA {outcome.hpa}, podpilot {outcome.pp}\n{outcome.detail}"
            )
    return same == len(outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16, help=f"trace steps (max {MAX_STEPS})")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--step-timeout", type=float, default=240.0)
    args = parser.parse_args()
    trace = load_trace(args.seed, max(1, min(args.steps, MAX_STEPS)))
    print(f"trace (seed {args.seed}): " + ", ".join(f"{k} {d}" for k, d in trace))
    for pair in PAIRS:
        print(f"pair {pair.name}: {pair.metric['type']}, settle window {pair.settle}s")
    with bench_session("bench-parity") as session:
        outcomes = run_trace(session, trace, args.step_timeout)
    return 0 if report(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
