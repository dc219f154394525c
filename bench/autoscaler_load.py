"""Metrics API load and controller CPU at scale: the built-in HPA against podpilot.

On a private dev cluster (``/tmp/pp-bench-hpa``, KWOK only, its own ports), N Deployments of
3 KWOK pods each, spread over 10 namespaces, run at a steady 50 % CPU utilization. Each N is
measured twice over the same number of 15 s periods:

* **HPA**: one ``autoscaling/v2`` HPA per Deployment (CPU Utilization 60 %), reconciled by
  kube-controller-manager's HPA controller running alone in its own process
  (``--controllers=horizontal-pod-autoscaler-controller``, sync period 15 s);
* **podpilot**: the same HPAs converted to Autoscalers (``podpilot convert``), evaluated by
  ``podpilot run --standalone --controllers=autoscaler`` (default period 15 s).

Figures: requests to ``metrics.k8s.io`` per period (metrics-server's ``apiserver_request_total``),
status writes per period (kube-apiserver's ``apiserver_request_total``),
CPU seconds and peak RSS of the controller process (``/proc``), evaluations per period (the HPA
controller's ``horizontal_pod_autoscaler_controller_reconciliations_total``, podpilot's
``podpilot_autoscaler_evaluations_total``), and the ratios podpilot / HPA.

    .venv/bin/python bench/autoscaler_load.py [--sizes 200,1000] [--periods 4] [--keep-cluster]

Connects to 127.0.0.1 only. Takes about 10 minutes for the default sizes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CLUSTER_DIR = "/tmp/pp-bench-hpa"
os.environ.setdefault("PODPILOT_DEV_CLUSTER_DIR", CLUSTER_DIR)
# Thousands of KWOK pods: KWOK takes seconds to answer for a node of 900 of them, which over a
# 10 s resolution made utilizations of a steady 50 % read 36-64 % (measured at 5,000), and the
# HPA rule then scales (podpilot_dev.cluster.metrics_server_timing).
os.environ.setdefault("PODPILOT_DEV_METRICS_RESOLUTION", "30")

from podpilot.autoscaler.api.conversion import convert_hpa  # noqa: E402
from podpilot_dev import cluster  # noqa: E402
from podpilot_dev.manifests import kwok_node  # noqa: E402
from podpilot_dev.ports import free_port  # noqa: E402
from podpilot_dev.wiring import install_crds  # noqa: E402

PERIOD = 15.0
# The pods run at 50 %: with a 60 % target every Autoscaler wants the replicas it has
# (ceil(3 x 50 / 60) = 3, and 4 stays 4), a steady state with room for the bench cluster's
# metric noise. At 50 % (the first rounds), a reading above 55 % (tolerance 0.1) scaled a
# Deployment up: 1,026 of 10,000 in four minutes, each rescale with its status writes and
# new pods, which is not the steady state measured.
TARGET_UTILIZATION = 60
NAMESPACES = 10
REPLICAS = 3
DEPLOYMENTS_PER_NODE = 300  # 900 pods on a KWOK node with room for 1,000
CLK_TCK = os.sysconf("SC_CLK_TCK")
HPA_FLAGS = {  # kube-controller-manager's defaults, except nothing: spelled out for the record
    "horizontal-pod-autoscaler-sync-period": f"{PERIOD:.0f}s",
    "horizontal-pod-autoscaler-downscale-stabilization": "5m0s",
    "horizontal-pod-autoscaler-cpu-initialization-period": "5m0s",
    "horizontal-pod-autoscaler-initial-readiness-delay": "30s",
    "horizontal-pod-autoscaler-tolerance": "0.1",
}
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the cluster -------------------------------------------------------------------------------


class Cluster:
    """The bench's private dev cluster and what the bench does with it."""

    def __init__(self, state: cluster.ClusterState) -> None:
        self.state = state

    def kubectl(self, *args: str, document: Any = None, check: bool = True) -> str:
        result = subprocess.run(
            [self.state.binaries["kubectl"], "--kubeconfig", str(self.state.kubeconfig), *args],
            input=yaml.safe_dump_all(document) if document is not None else None,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])} ...: {result.stderr.strip()[:500]}")
        return result.stdout

    def metrics_api_requests(self) -> float:
        """Requests metrics-server served for metrics.k8s.io since it started.

        kube-apiserver's own ``apiserver_request_total`` does not count the requests its
        aggregator proxies to an APIService, so the count comes from the serving end.
        """
        tls = self.state.pki
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # metrics-server's serving cert: dev PKI, any name
        context.load_cert_chain(str(tls.cert("admin")), str(tls.key("admin")))
        url = f"https://127.0.0.1:{self.state.ports['metrics-server']}/metrics"
        with urllib.request.urlopen(url, timeout=60, context=context) as response:
            text = str(response.read().decode())
        return sum_samples(text, "apiserver_request_total", {"group": "metrics.k8s.io"})

    def status_writes(self) -> float:
        """Writes of HPA and Autoscaler statuses the API server answered, since it started:
        the HPA controller's PUTs, podpilot's merge patches."""
        text = self.kubectl("get", "--raw", "/metrics")
        return sum(
            value
            for labels, value in parse_samples(text, "apiserver_request_total")
            if labels.get("resource") in ("horizontalpodautoscalers", "autoscalers")
            and labels.get("subresource") == "status"
            and labels.get("verb") in ("PUT", "PATCH", "APPLY")
        )

    def delete_hpas(self) -> None:
        """Every HPA, one DELETE of the collection per namespace: ``kubectl delete --all``
        deletes them one by one at kubectl's client-side rate (3.5 min for 1,000)."""
        for index in range(NAMESPACES):
            self.kubectl(
                "delete", "--raw",
                f"/apis/autoscaling/v2/namespaces/{namespace_of(index)}/horizontalpodautoscalers",
            )  # fmt: skip
        wait_for(
            lambda: not self.kubectl("get", "hpa", "-A", "-o", "name").split(),
            600,
            "every HPA gone",
        )


def start_cluster() -> Cluster:
    say(f"dev cluster in {os.environ['PODPILOT_DEV_CLUSTER_DIR']} (KWOK only, HPA apart)")
    state = cluster.up(kwok_nodes=1, real_nodes=0, separate_hpa=True)
    if not state.separate_hpa:
        raise SystemExit(
            f"{state.directory} runs a cluster whose controller manager includes the HPA "
            "controller; stop it (PODPILOT_DEV_CLUSTER_DIR=... podpilot-dev cluster down)"
        )
    install_crds(state)
    return Cluster(state)


def namespace_of(index: int) -> str:
    return f"bench-{index % NAMESPACES}"


def node_of(index: int) -> str:
    return f"bench-node-{index // DEPLOYMENTS_PER_NODE}"


def bench_node(name: str) -> dict[str, Any]:
    node = kwok_node(name)
    capacity = {"cpu": "512", "memory": "4Ti", "pods": "1000"}
    node["status"] = {"allocatable": capacity, "capacity": capacity}
    return node


def deployment(index: int) -> dict[str, Any]:
    """3 pods at 50 m of a 100 m request: 50 % utilization, on a fixed node (no scheduler)."""
    name = f"d-{index:05d}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace_of(index)},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {
                        "kwok.x-k8s.io/usage-cpu": "50m",
                        "kwok.x-k8s.io/usage-memory": "64Mi",
                    },
                },
                "spec": {
                    "nodeName": node_of(index),
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.invalid/app:1",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ],
                },
            },
        },
    }


def hpa(index: int) -> dict[str, Any]:
    name = f"d-{index:05d}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace_of(index)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": TARGET_UTILIZATION,
                        },
                    },
                }
            ],
        },
    }


def autoscaler(index: int) -> dict[str, Any]:
    return convert_hpa(hpa(index)).autoscaler


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply_all(bench: Cluster, documents: Sequence[Mapping[str, Any]], what: str) -> None:
    """Server-side apply in chunks of 100, 4 at a time (bounded: the cores are shared)."""
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        for done, _ in enumerate(
            pool.map(
                lambda chunk: bench.kubectl(
                    "apply", "--server-side", "--force-conflicts", "-f", "-", document=list(chunk)
                ),
                chunks(documents, 100),
            ),
            start=1,
        ):
            if done % 10 == 0:
                say(f"  {what}: {min(done * 100, len(documents))}/{len(documents)}")
    say(f"  {len(documents)} {what} applied in {time.monotonic() - started:.0f}s")


def ensure_workloads(bench: Cluster, count: int, timeout: float) -> None:
    """Nodes, namespaces and ``count`` Deployments with every pod Ready (existing ones kept)."""
    nodes = sorted({node_of(i) for i in range(count)})
    bench.kubectl("apply", "-f", "-", document=[bench_node(n) for n in nodes])
    bench.kubectl("wait", "--for=condition=Ready", "--timeout=120s", *[f"node/{n}" for n in nodes])
    spaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace_of(i)}}
        for i in range(NAMESPACES)
    ]
    bench.kubectl("apply", "-f", "-", document=spaces)
    wait_for(
        lambda: all(
            bench.kubectl("get", "sa", "default", "-n", namespace_of(i), check=False)
            for i in range(NAMESPACES)
        ),
        60,
        "default ServiceAccounts",
    )
    existing = set(
        bench.kubectl(
            "get", "deployments", "-A", "-o", "jsonpath={.items[*].metadata.name}"
        ).split()
    )
    missing = [deployment(i) for i in range(count) if f"d-{i:05d}" not in existing]
    if missing:
        apply_all(bench, missing, "Deployments")

    def ready() -> int:
        text = bench.kubectl(
            "get", "deployments", "-A", "-o", "jsonpath={.items[*].status.readyReplicas}"
        )
        total = sum(int(value) for value in text.split())
        say(f"  ready pods: {total}/{count * REPLICAS}")
        return total

    # Each poll lists every Deployment: at 10,000, a cost the apiserver readying pods feels.
    wait_while_progressing(ready, count * REPLICAS, timeout, "ready pods", every=20)
    wait_for_pod_metrics(bench, count, timeout)


def wait_for_pod_metrics(bench: Cluster, count: int, timeout: float) -> None:
    """Until metrics.k8s.io has a sample for every bench pod: a pod created a moment ago has
    none yet, and an evaluation that reads no metric is a failure (which the HPA skips and
    podpilot records as decision state), not the steady state either side is measured in."""

    def measured() -> int:
        listed = json.loads(bench.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods"))
        total = sum(
            1 for item in listed["items"] if item["metadata"]["namespace"].startswith("bench-")
        )
        say(f"  pods with metrics: {total}/{count * REPLICAS}")
        return total

    wait_while_progressing(measured, count * REPLICAS, timeout, "pods with metrics", every=10)


def wait_while_progressing(
    count: Callable[[], int], goal: int, stall: float, what: str, every: float
) -> None:
    """Until ``count()`` reaches ``goal``, failing only after ``stall`` seconds without any
    progress: a 2-core machine readies 30,000 KWOK pods at its own pace (13 to 27 a second
    on the machine of 2026-12-04, so more than a fixed 900 s)."""
    best, deadline = -1, 0.0
    while (current := count()) < goal:
        if current > best:
            best, deadline = current, time.monotonic() + stall
        elif time.monotonic() > deadline:
            raise TimeoutError(f"no progress for {stall:.0f}s: {current}/{goal} {what}")
        time.sleep(every)


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# --- processes and their figures ---------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    cpu_seconds: float
    rss_mib: float
    peak_rss_mib: float


def process_sample(pid: int) -> ProcessSample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kib = {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}
    return ProcessSample(cpu, kib["VmRSS"] / 1024, kib["VmHWM"] / 1024)


def parse_samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        yield dict(LABEL.findall(match.group(2) or "")), float(match.group(3))


def sum_samples(text: str, name: str, where: Mapping[str, str] | None = None) -> float:
    where = where or {}
    return sum(
        value
        for labels, value in parse_samples(text, name)
        if all(labels.get(k) == v for k, v in where.items())
    )


def http_get(url: str, insecure_tls: bool = False) -> str:
    context = None
    if insecure_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        return str(response.read().decode())


class Controller:
    """One controller process under measurement: who it is and how to count its work."""

    label: str
    pid: int
    started: float  # time.monotonic() when the process was started

    def evaluations(self) -> float:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class HpaController(Controller):
    label = "built-in HPA (kube-controller-manager)"

    def __init__(self, bench: Cluster) -> None:
        self.bench = bench
        self.started = time.monotonic()
        proc = cluster.start_hpa_controller(bench.state, HPA_FLAGS, report=say)
        self.pid = proc.pid
        port = bench.state.ports[cluster.HPA_CONTROLLER]
        self.url = f"https://127.0.0.1:{port}/metrics"

    def evaluations(self) -> float:
        return sum_samples(
            http_get(self.url, insecure_tls=True),
            "horizontal_pod_autoscaler_controller_reconciliations_total",
        )

    def stop(self) -> None:
        cluster.stop_hpa_controller(self.bench.state, report=say)


class PodpilotOperator(Controller):
    label = "podpilot operator"

    def __init__(
        self,
        bench: Cluster,
        cpu: int | None,
        log: Path,
        arguments: Sequence[str] = ("--standalone",),
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """``arguments``: what else ``podpilot run`` gets (default: ``--standalone``, no Lease);
        ``environment``: added to this process's, e.g. ``POD_NAME`` for the Lease identity."""
        self.metrics_port, self.health_port = free_port(), free_port()
        command = [
            sys.executable, "-m", "podpilot", "run", "--controllers=autoscaler", *arguments,
            "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
            "--health-address=127.0.0.1", f"--health-port={self.health_port}",
        ]  # fmt: skip
        environment = dict(
            os.environ, **(environment or {}), KUBECONFIG=str(bench.state.kubeconfig)
        )
        pin: Callable[[], None] | None = None
        if cpu is not None:

            def pin() -> None:
                os.sched_setaffinity(0, {cpu})

        self.log = log
        self.started = time.monotonic()
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                command, stdout=handle, stderr=subprocess.STDOUT, env=environment, preexec_fn=pin
            )
        self.pid = self.process.pid
        wait_for(self.healthy, 120, "the operator's health endpoint")
        say(f"podpilot operator pid {self.pid} (cpu {cpu if cpu is not None else 'any'})")

    def profile(self, path: str, seconds: float, gil: bool = False) -> subprocess.Popen[bytes]:
        """py-spy samples the operator for ``seconds`` (collapsed stacks, or SVG by suffix);
        with ``gil``, only the thread holding the GIL: where the one interpreter's CPU goes,
        without the threads that wait on a socket or for the GIL."""
        kind = "flamegraph" if path.endswith(".svg") else "raw"
        command = [
            str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(self.pid),
            "--duration", str(int(seconds)), "--rate", "50", "--nonblocking",
            "--format", kind, "-o", path, *(["--gil"] if gil else []),
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the operator exited; see {self.log}")
        try:
            http_get(f"http://127.0.0.1:{self.health_port}/healthz")
            return True
        except OSError:
            return False

    def scrape(self, *names: str) -> str:
        query = "&".join(f"name[]={name}" for name in names)
        return http_get(f"http://127.0.0.1:{self.metrics_port}/metrics?{query}")

    def evaluations(self) -> float:
        name = "podpilot_autoscaler_evaluations_total"
        return sum_samples(self.scrape(name), name)

    def last_evaluations(self) -> dict[str, float]:
        name = "podpilot_autoscaler_last_evaluation_timestamp_seconds"
        return {
            f"{labels['namespace']}/{labels['name']}": value
            for labels, value in parse_samples(self.scrape(name), name)
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- one measurement ---------------------------------------------------------------------------


@dataclass
class Measurement:
    controller: str
    autoscalers: int
    periods: int
    metrics_requests: float = 0.0
    status_writes: float = 0.0  # of the controller's HPAs or Autoscalers
    cpu_seconds: float = 0.0
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    evaluations: float = 0.0
    per_period: list[float] = field(default_factory=list)  # evaluations / N in each period
    covered: float = math.nan  # podpilot: share of (autoscaler, period) with an evaluation
    lags: list[float] = field(default_factory=list)  # podpilot: interval minus period, seconds
    startup_seconds: float = math.nan  # from the controller's start to every one evaluated once
    deletion: dict[str, float] = field(default_factory=dict)  # see autoscaler_ceiling.py

    @property
    def requests_per_period(self) -> float:
        return self.metrics_requests / self.periods

    @property
    def status_writes_per_period(self) -> float:
        return self.status_writes / self.periods

    @property
    def cpu_per_evaluation_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.evaluations if self.evaluations else math.nan

    @property
    def cpu_share(self) -> float:
        return self.cpu_seconds / (self.periods * PERIOD)

    @property
    def evaluations_per_period(self) -> float:
        """Evaluations per autoscaler per period, over the whole window (1.0: all on time)."""
        return self.evaluations / (self.autoscalers * self.periods)


def warm_up(controller: Controller, count: int, timeout: float) -> float:
    """Until every autoscaler was evaluated once, then three more periods to settle: an
    Autoscaler's first period counts from when its first evaluation ended (the start-up burst
    spreads over the time it takes to drain, status writes included), so its second interval
    is longer by that time, which is not the steady state measured here.

    Returns the start-up time: from the controller's start (``controller.started``) until
    every autoscaler was evaluated once."""

    def evaluated_once() -> bool:
        done = controller.evaluations()
        say(f"  {controller.label}: {done:.0f} evaluations since start")
        return done >= count

    wait_for(evaluated_once, timeout, "every autoscaler evaluated once", every=1)
    startup = time.monotonic() - controller.started
    say(f"  all {count} evaluated once {startup:.0f}s after the start; settling")
    time.sleep(3 * PERIOD)
    return startup


def measure(bench: Cluster, controller: Controller, count: int, periods: int) -> Measurement:
    result = Measurement(controller.label, count, periods)
    operator = controller if isinstance(controller, PodpilotOperator) else None
    seen: dict[str, list[float]] = {}
    requests0, writes0 = bench.metrics_api_requests(), bench.status_writes()
    process0 = process_sample(controller.pid)
    evaluations_before = evaluations0 = controller.evaluations()
    started, wall_started = time.monotonic(), time.time()
    for period in range(1, periods + 1):
        boundary = started + period * PERIOD
        while (left := boundary - time.monotonic()) > 0:
            if operator is not None:
                for key, stamp in operator.last_evaluations().items():
                    stamps = seen.setdefault(key, [])
                    if not stamps or stamps[-1] != stamp:
                        stamps.append(stamp)
            time.sleep(min(left, 5.0))
        evaluations = controller.evaluations()
        result.per_period.append((evaluations - evaluations_before) / count)
        evaluations_before = evaluations
        say(f"  period {period}/{periods}: {result.per_period[-1]:.2f} evaluations per autoscaler")
    process1 = process_sample(controller.pid)
    result.metrics_requests = bench.metrics_api_requests() - requests0
    result.status_writes = bench.status_writes() - writes0
    result.evaluations = evaluations_before - evaluations0
    result.cpu_seconds = process1.cpu_seconds - process0.cpu_seconds
    result.rss_mib, result.peak_rss_mib = process1.rss_mib, process1.peak_rss_mib
    if operator is not None:
        windows = [
            (wall_started + k * PERIOD, wall_started + (k + 1) * PERIOD) for k in range(periods)
        ]
        hits = sum(
            any(start <= stamp < end for stamp in seen.get(key, []))
            for key in {*seen, *operator.last_evaluations()}
            for start, end in windows
        )
        result.covered = hits / (count * periods)
        for stamps in seen.values():
            result.lags += [b - a - PERIOD for a, b in itertools.pairwise(stamps)]
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- the two sides -----------------------------------------------------------------------------


def refuse_extra(existing: int, count: int, kind: str) -> None:
    """Objects are only ever added (sizes rise), so more than ``count`` means a stale cluster."""
    if existing > count:
        raise SystemExit(
            f"the bench cluster holds {existing} {kind}, more than the {count} to measure; sizes "
            f"must rise within one cluster (stop it: PODPILOT_DEV_CLUSTER_DIR={CLUSTER_DIR} "
            ".venv/bin/podpilot-dev cluster down)"
        )


def run_hpa(bench: Cluster, count: int, periods: int, timeout: float) -> Measurement:
    say(f"HPA side, {count} HPAs")
    existing = set(bench.kubectl("get", "hpa", "-A", "-o", "name").split())
    refuse_extra(len(existing), count, "HPAs")
    apply_all(bench, [hpa(i) for i in range(count)], "HPAs")  # existing ones brought up to date
    controller = HpaController(bench)
    try:
        startup = warm_up(controller, count, timeout)
        result = measure(bench, controller, count, periods)
        result.startup_seconds = startup
        return result
    finally:
        controller.stop()  # the HPAs stay, inert, until the podpilot side deletes them


def ensure_autoscalers(bench: Cluster, count: int) -> None:
    """``count`` Autoscalers, one per bench Deployment (existing ones brought up to date), and
    no HPA."""
    # The HPA side's HPAs target the same Deployments: with them in place every Autoscaler
    # would refuse to act (the ambiguity guard) and read nothing. The HPA side re-creates them.
    bench.delete_hpas()
    existing = set(bench.kubectl("get", "autoscalers", "-A", "-o", "name").split())
    refuse_extra(len(existing), count, "Autoscalers")
    apply_all(bench, [autoscaler(i) for i in range(count)], "Autoscalers")


def run_podpilot(
    bench: Cluster,
    count: int,
    periods: int,
    timeout: float,
    *,
    cpu: int | None = None,
    profile: str | None = None,
    profile_gil: bool = False,
    then: Callable[[PodpilotOperator], dict[str, float]] | None = None,
) -> Measurement:
    """``then``: run with the operator still up after the measurement; what it returns is
    kept as the measurement's ``deletion``."""
    say(f"podpilot side, {count} Autoscalers")
    ensure_autoscalers(bench, count)
    log = Path(tempfile.mkdtemp(prefix="pp-bench-operator-")) / "operator.log"
    controller = PodpilotOperator(bench, cpu, log)
    try:
        startup = warm_up(controller, count, timeout)
        profiler = controller.profile(profile, periods * PERIOD, profile_gil) if profile else None
        result = measure(bench, controller, count, periods)
        result.startup_seconds = startup
        if profiler is not None:
            profiler.wait(timeout=120)
            say(f"profile: {profile}")
        if then is not None:
            result.deletion = then(controller)
        return result
    finally:
        controller.stop()  # the Autoscalers stay, inert: nothing evaluates them any more
        say(f"operator log: {log}")


# --- output ------------------------------------------------------------------------------------


def table(rows: Iterable[Sequence[str]]) -> str:
    rows = [list(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append(
            "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        )
        if number == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def comparison_table(pairs: Sequence[tuple[Measurement, Measurement]]) -> str:
    rows: list[list[str]] = [
        [
            "N",
            "controller",
            "metrics.k8s.io req/period",
            "status writes/period",
            "CPU s/period",
            "CPU ms/evaluation",
            "peak RSS MiB",
            "evaluations/autoscaler/period",
            "start-up s",
        ]
    ]
    for hpa_side, pp in pairs:
        for item, name in ((hpa_side, "HPA"), (pp, "podpilot")):
            rows.append(
                [
                    f"{item.autoscalers:,}",
                    name,
                    f"{item.requests_per_period:.1f}",
                    f"{item.status_writes_per_period:.0f}",
                    f"{item.cpu_seconds / item.periods:.2f}",
                    f"{item.cpu_per_evaluation_ms:.2f}",
                    f"{item.peak_rss_mib:.0f}",
                    f"{item.evaluations_per_period:.2f}",
                    f"{item.startup_seconds:.0f}",
                ]
            )
        rows.append(
            [
                f"{pp.autoscalers:,}",
                "podpilot / HPA",
                ratio(pp.requests_per_period, hpa_side.requests_per_period),
                ratio(pp.status_writes_per_period, hpa_side.status_writes_per_period),
                ratio(pp.cpu_seconds, hpa_side.cpu_seconds),
                ratio(pp.cpu_per_evaluation_ms, hpa_side.cpu_per_evaluation_ms),
                ratio(pp.peak_rss_mib, hpa_side.peak_rss_mib),
                "",
                ratio(pp.startup_seconds, hpa_side.startup_seconds),
            ]
        )
    return table(rows)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


@contextmanager
def bench_cluster(keep: bool) -> Iterator[Cluster]:
    bench = start_cluster()
    try:
        yield bench
    finally:
        if keep:
            say(f"cluster kept: PODPILOT_DEV_CLUSTER_DIR={bench.state.directory}")
        else:
            cluster.down(report=say)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000", help="autoscaler counts, in order")
    parser.add_argument("--periods", type=int, default=4, help="15 s periods measured per side")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds per wait (readying the workloads: seconds without progress)",
    )
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--only", choices=("hpa", "podpilot"), help="measure one side only")
    parser.add_argument(
        "--profile", help="py-spy profile of the operator while measured (.svg, else collapsed)"
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="profile only the thread holding the GIL (where the interpreter's CPU goes)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    pairs: list[tuple[Measurement, Measurement]] = []
    with bench_cluster(args.keep_cluster) as bench:
        for count in parse_sizes(args.sizes):
            ensure_workloads(bench, count, args.timeout)
            empty = Measurement("-", count, args.periods)
            hpa_side = (
                run_hpa(bench, count, args.periods, args.timeout)
                if args.only != "podpilot"
                else empty
            )
            pp = (
                run_podpilot(
                    bench,
                    count,
                    args.periods,
                    args.timeout,
                    profile=args.profile,
                    profile_gil=args.profile_gil,
                )
                if args.only != "hpa"
                else empty
            )
            pairs.append((hpa_side, pp))
            print(json.dumps({"n": count, "hpa": vars(hpa_side), "podpilot": summary(pp)}))
            print(comparison_table(pairs), flush=True)
    elapsed = time.monotonic() - started
    print(f"\n{args.periods} periods of {PERIOD:.0f}s per side; total {elapsed:.0f}s")
    print(comparison_table(pairs))
    return 0


def summary(item: Measurement) -> dict[str, Any]:
    data = {k: v for k, v in vars(item).items() if k != "lags"}
    data["lag_p50"] = percentile(item.lags, 0.5)
    data["lag_p99"] = percentile(item.lags, 0.99)
    return data


if __name__ == "__main__":
    sys.exit(main())
