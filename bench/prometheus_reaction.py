"""Reaction latency on the dev cluster: exporter step -> /scale patch, podpilot vs the HPA.

Two KWOK Deployments in one fresh namespace get the same load steps at the same moment:

* ``pp`` is scaled by a podpilot Autoscaler with a ``Prometheus`` metric (a PromQL query on the
  dev cluster's Prometheus), run by an operator process this script starts for the namespace;
* ``hpa`` is scaled by the built-in HPA with an ``External`` metric that prometheus-adapter
  serves from the same Prometheus.

Both have target AverageValue 10, no scale-down stabilization, and a 5 s period (the dev
cluster's HPA sync period). Each step flips the load between 10 (1 replica) and 40
(4 replicas); the latency is the time from setting the series on the test exporter to the
Deployment's ``spec.replicas`` changing. Steps start at a random offset to both periods.
Prometheus scrapes every 2 s, so about 1 s of every figure is the scrape interval, the same
for both.

    .venv/bin/python bench/prometheus_reaction.py [--steps 6] [--step-timeout 90]

Needs the dev cluster (``podpilot dev-cluster up``); connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from podpilot.commands.dev import dev_hpa_settings, install_crds
from podpilot.devcluster.cluster import ClusterState
from podpilot.devcluster.processes import free_port

LOW, HIGH = 10, 40
SERIES = "podpilot_test_external_benchload"


def kubectl(state: ClusterState, *args: str, document: Any = None) -> str:
    result = subprocess.run(
        [state.binaries["kubectl"], "--kubeconfig", str(state.kubeconfig), *args],
        input=yaml.safe_dump_all(document) if document is not None else None,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def put_series(state: ClusterState, labels: dict[str, str], value: float) -> None:
    body = json.dumps({"name": SERIES, "labels": labels, "value": value}).encode()
    request = urllib.request.Request(f"{state.exporter_url}/series", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


def manifests(state: ClusterState, namespace: str) -> list[dict[str, Any]]:
    no_window = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    query = f'sum({SERIES}{{namespace="{namespace}",for="pp"}})'
    return [
        deployment("pp"),
        deployment("hpa"),
        {
            "apiVersion": "podpilot.io/v1alpha1",
            "kind": "PrometheusServer",
            "metadata": {"name": "dev"},
            "spec": {"url": state.prometheus_url},
        },
        {
            "apiVersion": "podpilot.io/v1alpha1",
            "kind": "Autoscaler",
            "metadata": {"name": "pp"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pp"},
                "minReplicas": 1,
                "maxReplicas": 6,
                "evaluationPeriodSeconds": 5,
                "behavior": no_window,
                "metrics": [
                    {
                        "type": "Prometheus",
                        "prometheus": {
                            "serverRef": {"name": "dev"},
                            "query": query,
                            "target": {"type": "AverageValue", "averageValue": "10"},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "hpa"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hpa"},
                "minReplicas": 1,
                "maxReplicas": 6,
                "behavior": no_window,
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {
                                "name": "benchload",
                                "selector": {"matchLabels": {"for": "hpa"}},
                            },
                            "target": {"type": "AverageValue", "averageValue": "10"},
                        },
                    }
                ],
            },
        },
    ]


def replicas(state: ClusterState, namespace: str) -> dict[str, int]:
    items = json.loads(kubectl(state, "get", "deployments", "-n", namespace, "-o", "json"))
    return {item["metadata"]["name"]: item["spec"]["replicas"] for item in items["items"]}


def start_operator(state: ClusterState, namespace: str, log: Path) -> subprocess.Popen[bytes]:
    hpa = dev_hpa_settings()
    command = [
        sys.executable, "-m", "podpilot", "run", "--standalone", "--controllers=autoscaler",
        f"--namespace={namespace}", "--metrics-address=127.0.0.1",
        f"--metrics-port={free_port()}", "--health-address=127.0.0.1",
        f"--health-port={free_port()}", f"--tolerance={hpa.tolerance}",
        f"--downscale-stabilization={hpa.downscale_stabilization}",
    ]  # fmt: skip
    environment = dict(os.environ, KUBECONFIG=str(state.kubeconfig))
    with log.open("ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=environment)


def wait_both(state: ClusterState, namespace: str, count: int, timeout: float) -> dict[str, float]:
    """Seconds until each Deployment reached ``count``; missing ones timed out."""
    started, reached = time.monotonic(), {}
    while time.monotonic() - started < timeout and len(reached) < 2:
        for name, value in replicas(state, namespace).items():
            if value == count and name not in reached:
                reached[name] = time.monotonic() - started
        time.sleep(0.2)
    return reached


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="load steps (max 40)")
    parser.add_argument("--step-timeout", type=float, default=90.0)
    args = parser.parse_args()
    steps = max(2, min(args.steps, 40))
    state = ClusterState.load()
    if state is None or not state.ready:
        print("the dev cluster is not running; start it with `podpilot dev-cluster up`")
        return 2
    install_crds(state)
    namespace = f"bench-reaction-{uuid.uuid4().hex[:6]}"
    kubectl(state, "create", "namespace", namespace)
    log = Path(tempfile.mkdtemp(prefix="podpilot-bench-")) / "operator.log"
    operator = start_operator(state, namespace, log)
    latencies: dict[str, list[float]] = {"pp": [], "hpa": []}
    timeouts = 0
    try:
        for target in ("pp", "hpa"):
            put_series(state, {"namespace": namespace, "for": target}, LOW)
        kubectl(state, "apply", "-n", namespace, "-f", "-", document=manifests(state, namespace))
        time.sleep(20)  # both controllers read the low value once; adapter discovery settles
        for step in range(steps):
            value, expected = (HIGH, 4) if step % 2 == 0 else (LOW, 1)
            for target in ("pp", "hpa"):
                put_series(state, {"namespace": namespace, "for": target}, value)
            reached = wait_both(state, namespace, expected, args.step_timeout)
            for name in ("pp", "hpa"):
                if name in reached:
                    latencies[name].append(reached[name])
                else:
                    timeouts += 1
            shown = ", ".join(f"{n} {reached.get(n, float('nan')):.1f}s" for n in ("pp", "hpa"))
            print(f"step {step + 1}/{steps}: load {value} -> {expected} replicas: {shown}")
            # Settle, then a random offset so steps do not phase-lock with either 5 s period.
            time.sleep(6 + random.uniform(0, 5))
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        kubectl(state, "delete", "namespace", namespace, "--wait=false")
    labels = {"pp": "podpilot Autoscaler, Prometheus metric", "hpa": "HPA + prometheus-adapter"}
    for name, values in latencies.items():
        if values:
            print(
                f"{labels[name]}: n={len(values)} p50={statistics.median(values):.1f}s "
                f"p95={percentile(values, 0.95):.1f}s max={max(values):.1f}s"
            )
    if timeouts:
        print(f"{timeouts} step(s) timed out after {args.step_timeout:.0f}s; operator log: {log}")
    return 0 if not timeouts else 1


if __name__ == "__main__":
    sys.exit(main())
