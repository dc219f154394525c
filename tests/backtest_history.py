"""A known workload history for the backtest tests and the docs' plot: the trace as values,
as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``, a real Prometheus
serving it on 127.0.0.1, and the reference replica curve: the operator's ``decide`` called
directly, step by step, on observations built here."""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podpilot.autoscaler.api.result import MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace
from podpilot.autoscaler.engine import (
    ContainerSpec,
    MetricOutcome,
    PodInfo,
    PodMetric,
    ReadyCondition,
    external_per_pod_metric_replicas,
    resource_utilization_replicas,
)
from podpilot.autoscaler.policy.plan import Memory, Observations, decide, rescaled
from podpilot_dev.ports import free_port

NAMESPACE = "shop"
WORKLOAD = "web"
DECOY = "web-api"  # another Deployment: "web-.+" would take its pods for web's
KUBE_STATE_METRICS = ("ksm-0", "ksm-1")  # two replicas: every series of theirs twice


def pod_names() -> list[str]:
    """The workload's pods, named as a Deployment's ReplicaSet names them."""
    return [f"{WORKLOAD}-5d4f8b7c9-x2k{pod}p" for pod in (2, 4, 5, 6, 7, 8, 9)[:PODS]]


PODS = 4
REQUEST_CORES = 0.5
STEP = 60  # seconds between evaluations, and the rate() window
SCRAPE = 15
QUEUE_QUERY = f'sum(shop_queue_depth{{namespace="{NAMESPACE}"}})'

# Cores used by the whole workload during each step (the interval ending at the step).
LOAD = [1.2] * 6 + [1.6, 2.0, 2.4, 2.8] + [3.2] * 10 + [2.0] * 6 + [0.8] * 14
# What the workload actually ran (a slower autoscaler than the specs below).
ACTUAL = [4] * 8 + [6] * 4 + [8] * 13 + [6] * 6 + [4] * 9
# A queue whose depth follows the load.
QUEUE = [round(cores * 25) for cores in LOAD]


def autoscaler(
    utilization: int = 60, minimum: int = 2, maximum: int = 10, down_window: int = 120
) -> dict[str, Any]:
    return {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "Autoscaler",
        "metadata": {"name": WORKLOAD, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKLOAD},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": utilization},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": down_window}},
        },
    }


def hpa(utilization: int = 80) -> dict[str, Any]:
    """The workload's HorizontalPodAutoscaler, as ``kubectl get hpa -o yaml`` shows it."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": WORKLOAD, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKLOAD},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": utilization},
                    },
                }
            ],
        },
    }


def queue_autoscaler(per_pod: int = 10) -> dict[str, Any]:
    manifest = autoscaler()
    manifest["spec"]["metrics"] = [
        {
            "type": "Prometheus",
            "prometheus": {
                "serverRef": {"name": "main"},
                "query": QUEUE_QUERY,
                "target": {"type": "AverageValue", "averageValue": str(per_pod)},
            },
        }
    ]
    return manifest


@dataclass(frozen=True)
class History:
    end: int  # epoch seconds of the last step

    @property
    def start(self) -> int:
        return self.end - (len(LOAD) - 1) * STEP

    @property
    def times(self) -> list[float]:
        return [float(self.start + i * STEP) for i in range(len(LOAD))]

    def step_of(self, moment: float) -> int:
        """The step whose interval (previous step, this step] holds ``moment``."""
        return min(max(math.ceil((moment - self.start) / STEP), 0), len(LOAD) - 1)

    def openmetrics(self) -> str:
        """Samples every 15 s from three steps before the start to the end. Beside the
        workload's pods, a decoy Deployment whose name starts with the workload's (its pods
        must not be read), and two kube-state-metrics replicas reporting the same series."""
        first = self.start - 3 * STEP
        moments = list(range(first, self.end + 1, SCRAPE))
        lines: list[str] = []
        pods = [*pod_names(), *(f"{DECOY}-{pod[len(WORKLOAD) + 1 :]}" for pod in pod_names())]
        for pod in pods:
            labels = f'namespace="{NAMESPACE}",pod="{pod}",container="app"'
            counter = 0.0
            previous = moments[0]
            for moment in moments:
                counter += (moment - previous) * LOAD[self.step_of(moment)] / PODS
                previous = moment
                lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {counter!r} {moment}")
        for pod, instance in itertools.product(pods, KUBE_STATE_METRICS):
            labels = (
                f'namespace="{NAMESPACE}",pod="{pod}",container="app",'
                f'resource="cpu",unit="core",instance="{instance}"'
            )
            lines += [
                f"kube_pod_container_resource_requests{{{labels}}} {REQUEST_CORES} {moment}"
                for moment in moments
            ]
        for instance in KUBE_STATE_METRICS:
            labels = f'namespace="{NAMESPACE}",deployment="{WORKLOAD}",instance="{instance}"'
            lines += [
                f"kube_deployment_spec_replicas{{{labels}}} {ACTUAL[self.step_of(m)]} {m}"
                for m in moments
            ]
        lines += [
            f'shop_queue_depth{{namespace="{NAMESPACE}"}} {QUEUE[self.step_of(m)]} {m}'
            for m in moments
        ]
        return "\n".join(lines) + "\n# EOF\n"


def recent_history(hours_ago: float = 1.0) -> History:
    """The history ending ``hours_ago`` before now, on a whole minute."""
    end = int(time.time() - hours_ago * 3600) // STEP * STEP
    return History(end)


def _pods(count: int, now: float) -> list[PodInfo]:
    return [
        PodInfo(
            name=f"pod-{i}",
            start_time=now - 86400,
            ready=ReadyCondition(True, now - 86400),
            containers=(ContainerSpec("app", {"cpu": round(REQUEST_CORES * 1000)}),),
        )
        for i in range(count)
    ]


def reference_curve(
    manifest: dict[str, Any], times: list[float], downscale_window: float = 300.0
) -> list[int]:
    """The replica curve of ``decide`` called directly: each step's observations are the
    known load spread evenly over the current count, the plan's rescale taken at once."""
    spec: AutoscalerSpec = parse_spec(manifest["spec"])
    memory = Memory(None)
    current = ACTUAL[0]
    curve: list[int] = []
    for index, now in enumerate(times):
        curve.append(current)
        pods = _pods(current, now)
        metrics = []
        for metric in spec.metrics:
            if metric.type == "Resource":
                each = round(LOAD[index] * 1000 / current)
                assert metric.target.average_utilization is not None
                proposal = resource_utilization_replicas(
                    current_replicas=current,
                    target_utilization=metric.target.average_utilization,
                    resource="cpu",
                    pods=pods,
                    metrics={pod.name: PodMetric(each, now) for pod in pods},
                    now=now,
                )
            else:
                proposal = external_per_pod_metric_replicas(
                    status_replicas=current,
                    target_average_value=metric.target.average_value or 0,
                    values=(QUEUE[index] * 1000,),
                )
            metrics.append(MetricResult(metric, MetricOutcome(metric.display_name, proposal)))
        observations = Observations(
            now, "Deployment/web", current, "app=web", metrics=tuple(metrics)
        )
        plan = decide(spec, observations, memory, downscale_window)
        result = rescaled(plan, spec.behavior) if plan.patch else plan.result
        memory = Memory.after(result)
        if plan.patch:
            current = result.desired_replicas
    return curve


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus)")
    return path


@contextmanager
def prometheus_with(history: History, workdir: Path, ready_within: float = 20.0) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 serving ``history`` (backfilled with promtool); its
    URL. The process is always ended on exit; its log is ``workdir/prometheus.log``."""
    promtool, prometheus = _tool("promtool"), _tool("prometheus")
    source = workdir / "history.om"
    source.write_text(history.openmetrics(), encoding="utf-8")
    data = workdir / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(workdir / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=3650d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "HOME": str(workdir)},
        )
        try:
            _wait_ready(url, process, ready_within)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_ready(url: str, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"prometheus was not ready within {within:g} s")


def known_trace(times: list[float]) -> Trace:
    """The trace the reader should build from the backfilled history, from the values."""
    pods = pod_names()
    usage = tuple({pod: round(cores * 1000 / PODS) for pod in pods} for cores in LOAD)
    requests = tuple({pod: round(REQUEST_CORES * 1000) for pod in pods} for _ in LOAD)
    return Trace(
        times=tuple(times),
        replicas=tuple(ACTUAL),
        resources={ResourceKey("cpu"): PodSeries(usage, requests)},
        queries={QUEUE_QUERY: tuple(depth * 1000 for depth in QUEUE)},
    )
