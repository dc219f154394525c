"""Plumbing shared by the scale benchmarks that go through the apiserver.

* :class:`BenchCluster`: a dev cluster of its own (``PODPILOT_DEV_CLUSTER_DIR``, no real
  nodes, no default KWOK nodes), started or reused, and taken down at the end.
* :class:`Bulk`: raw JSON requests to the apiserver from a bounded thread pool (one urllib3
  pool with the dev cluster's client certificate), for creating thousands of objects quickly.
* :class:`OperatorRun`: ``podpilot run --standalone`` as a child process, with its peak RSS,
  CPU seconds and ``/metrics``.

Everything it dials is on 127.0.0.1: the apiserver and the operator's own ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
from prometheus_client.parser import text_string_to_metric_families

from podpilot_dev.cluster import ClusterState
from podpilot_dev.ports import free_port
from podpilot_dev.wiring import install_crds

REPO = Path(__file__).resolve().parent.parent
PODPILOT_DEV = str(REPO / ".venv" / "bin" / "podpilot-dev")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Request = tuple[str, str, Any]  # method, path, JSON body (or None)


MAX_NODES = 10_000
MAX_PODS = 100_000


class BenchError(RuntimeError):
    """The benchmark cannot go on (a timeout, a refused request, the operator exited)."""


def check_size(nodes: int, pods: int, pods_per_node: int | None = None) -> None:
    """Refuse sizes beyond what this machine and the address plan are meant for."""
    if not 1 <= nodes <= MAX_NODES or not 1 <= pods <= MAX_PODS:
        raise SystemExit(f"--nodes must be 1..{MAX_NODES} and --pods 1..{MAX_PODS}")
    if pods_per_node is not None and -(-pods // nodes) > pods_per_node:
        raise SystemExit(f"at most {pods_per_node} pods per node (allocatable pods)")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Deadline:
    """The whole run's time budget (``--timeout``)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise BenchError(f"--timeout reached while {what}")


@dataclass
class BenchCluster:
    """A dev cluster in ``directory``: reused if one runs there, else started (and stopped)."""

    directory: Path
    keep: bool = False
    started: bool = False

    def environment(self) -> dict[str, str]:
        return dict(os.environ, PODPILOT_DEV_CLUSTER_DIR=str(self.directory))

    def up(self) -> ClusterState:
        existing = ClusterState.load(self.directory)
        if existing is not None and existing.ready and existing.all_alive():
            say(f"reusing the dev cluster in {self.directory}")
        else:
            say(f"starting a dev cluster in {self.directory} (no real nodes, no KWOK nodes)")
            started = time.monotonic()
            subprocess.run(
                [PODPILOT_DEV, "cluster", "up", "--real-nodes", "0", "--kwok-nodes", "0"],
                env=self.environment(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            self.started = True
            say(f"dev cluster up in {time.monotonic() - started:.0f} s")
        state = ClusterState.load(self.directory)
        if state is None:
            raise BenchError(f"no dev cluster state in {self.directory}")
        install_crds(state)
        return state

    def down(self) -> None:
        if self.keep:
            say(f"keeping the dev cluster: PODPILOT_DEV_CLUSTER_DIR={self.directory}")
            return
        say("taking the bench dev cluster down")
        subprocess.run(
            [PODPILOT_DEV, "cluster", "down"],
            env=self.environment(),
            check=False,
            stdout=subprocess.DEVNULL,
        )


class Bulk:
    """Raw requests to the apiserver, many at a time."""

    def __init__(self, state: ClusterState, concurrency: int) -> None:
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(state.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = concurrency
        self.client = kubernetes.client.ApiClient(configuration)
        self.host = configuration.host
        self.concurrency = concurrency
        if not self.host.startswith("https://127.0.0.1:"):
            raise BenchError(f"refusing a non-loopback apiserver: {self.host}")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        response = self.client.rest_client.pool_manager.request(
            method,
            self.host + path,
            body=data,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=60,
            retries=False,
        )
        text = response.data
        return response.status, (json.loads(text) if text else None)

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise BenchError(f"GET {path}: HTTP {status} {body}")
        return body

    def count(self, path: str) -> int:
        """Objects in a collection, from one ``limit=1`` page (``remainingItemCount``)."""
        separator = "&" if "?" in path else "?"
        body = self.get(f"{path}{separator}limit=1")
        return len(body.get("items") or []) + int(
            (body.get("metadata") or {}).get("remainingItemCount") or 0
        )

    def run(
        self,
        label: str,
        requests: Iterable[Request],
        total: int,
        deadline: Deadline,
        content_type: str = "application/json",
    ) -> float:
        """Send every request, ``concurrency`` at a time; 409 (exists) counts as done."""
        done = Counter[str]()
        lock = threading.Lock()
        started = time.monotonic()
        failures: list[str] = []

        def one(request: Request) -> None:
            method, path, body = request
            for attempt in range(8):
                status, answer = self.request(method, path, body, content_type)
                if status in (200, 201, 409):
                    break
                if status in (429, 500, 503, 504) or status == 0:
                    time.sleep(min(0.2 * 2**attempt, 5))
                    continue
                failures.append(f"{method} {path}: HTTP {status} {answer}")
                break
            with lock:
                done["n"] += 1

        stop = threading.Event()

        def progress() -> None:
            while not stop.wait(10):
                elapsed = time.monotonic() - started
                say(f"  {label}: {done['n']}/{total} in {elapsed:.0f} s")

        reporter = threading.Thread(target=progress, daemon=True)
        reporter.start()
        try:
            with ThreadPoolExecutor(self.concurrency) as pool:
                window: list[Any] = []
                for request in requests:
                    window.append(pool.submit(one, request))
                    if len(window) >= self.concurrency * 4:
                        for future in window:
                            future.result()
                        window = []
                        deadline.check(label)
                        if failures:
                            break
                for future in window:
                    future.result()
        finally:
            stop.set()
        if failures:
            raise BenchError(f"{label}: {len(failures)} failed, first: {failures[0][:400]}")
        seconds = time.monotonic() - started
        say(f"{label}: {total} in {seconds:.1f} s ({total / max(seconds, 1e-9):.0f}/s)")
        return seconds

    def apiserver_requests(self) -> Counter[tuple[str, str, str]]:
        """``apiserver_request_total`` summed by (verb, group, resource[/subresource])."""
        status, _ = 0, None
        response = self.client.rest_client.pool_manager.request(
            "GET", self.host + "/metrics", timeout=30, retries=False
        )
        status = response.status
        if status != 200:
            return Counter()
        counts = Counter[tuple[str, str, str]]()
        for family in text_string_to_metric_families(response.data.decode()):
            if family.name != "apiserver_request":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = sample.labels
                resource = labels.get("resource", "")
                if labels.get("subresource"):
                    resource += "/" + labels["subresource"]
                counts[(labels.get("verb", ""), labels.get("group", ""), resource)] += int(
                    sample.value
                )
        return counts


def request_delta(
    before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]]
) -> Counter[tuple[str, str, str]]:
    delta = Counter[tuple[str, str, str]]()
    for key, value in after.items():
        if value - before.get(key, 0) > 0:
            delta[key] = value - before.get(key, 0)
    return delta


@dataclass
class OperatorRun:
    """``podpilot run --standalone`` with some controllers, as a child process."""

    state: ClusterState
    controllers: str
    flags: list[str] = field(default_factory=list)
    log_path: Path = Path("/dev/null")
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    started_wall: float = 0.0
    metrics_port: int = 0
    health_port: int = 0

    def start(self) -> None:
        self.metrics_port, self.health_port = free_port(), free_port()
        command = [
            sys.executable, "-m", "podpilot", "run", "--standalone",
            f"--controllers={self.controllers}",
            "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
            "--health-address=127.0.0.1", f"--health-port={self.health_port}",
            *self.flags,
        ]  # fmt: skip
        environment = dict(os.environ, KUBECONFIG=str(self.state.kubeconfig))
        with self.log_path.open("ab") as log:
            self.started_at, self.started_wall = time.monotonic(), time.time()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        say(f"operator started (pid {self.process.pid}, log {self.log_path})")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("the operator is not running")
        return self.process.pid

    def alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"the operator exited; see {self.log_path}")

    def usage(self) -> tuple[float, float, float]:
        """Peak RSS (VmHWM) and RSS in MiB, and user+system CPU seconds, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        values = {
            key: rest.split()[0]
            for key, _, rest in (line.partition(":") for line in status.splitlines())
            if rest.strip()
        }
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return int(values["VmHWM"]) / 1024, int(values["VmRSS"]) / 1024, cpu

    def metrics(self) -> dict[str, float]:
        """The operator's /metrics, unlabelled names and ``name{k=v,...}`` keys."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
        except OSError:
            return {}
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def wait_for(
    what: str,
    condition: Callable[[], bool],
    deadline: Deadline,
    interval: float = 1.0,
    operator: OperatorRun | None = None,
    progress: Callable[[], str] | None = None,
) -> float:
    """Poll ``condition`` until true; return the seconds it took."""
    started = last = time.monotonic()
    while True:
        if operator is not None:
            operator.alive()
        if condition():
            return time.monotonic() - started
        deadline.check(f"waiting for {what}")
        if progress is not None and time.monotonic() - last >= 10:
            last = time.monotonic()
            say(f"  waiting for {what}: {progress()}")
        time.sleep(interval)


def chunks(items: Iterable[Request], size: int) -> Iterator[list[Request]]:
    batch: list[Request] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 24))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 24), flush=True)


def top_requests(delta: Counter[tuple[str, str, str]], limit: int = 12) -> list[tuple[str, str]]:
    rows = []
    for (verb, group, resource), count in delta.most_common(limit):
        rows.append((f"  {verb} {group + '/' if group else ''}{resource}", str(count)))
    return rows


# --- KWOK objects -------------------------------------------------------------------------------

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
BENCH_LABEL = "podpilot.io/bench"
# Pods tolerate an unreachable or not-ready node forever: if KWOK falls behind with the node
# leases, the node lifecycle controller must not evict the benchmark's pods.
FOREVER_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
]


def node_address(index: int) -> str:
    """A distinct loopback address per node (127.1.0.1 …): data only, nothing listens there."""
    return f"127.{1 + index // 62_500}.{index % 62_500 // 250}.{index % 250 + 1}"


def kwok_node(
    name: str,
    run: str,
    *,
    annotations: dict[str, str] | None = None,
    pod_cidr: str | None = None,
    kwok: bool = True,
) -> dict[str, Any]:
    """A Node for KWOK (``kwok=False``: not yet; :func:`hand_to_kwok` annotates it later)."""
    spec: dict[str, Any] = {}
    if pod_cidr is not None:
        spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {**({KWOK_ANNOTATION: "fake"} if kwok else {}), **(annotations or {})},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
                BENCH_LABEL: run,
            },
        },
        "spec": spec,
    }


def kwok_node_status(index: int, name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status a kubelet would report (status is dropped on create, so it is patched)."""
    resources = {"cpu": "32", "memory": "128Gi", "ephemeral-storage": "500Gi", "pods": "110"}
    return {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": node_address(index)},
                {"type": "Hostname", "address": name},
            ],
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {"kubeletVersion": "v1.36.3", "operatingSystem": "linux"},
            **(extra or {}),
        }
    }


def create_nodes(
    bulk: Bulk,
    deadline: Deadline,
    nodes: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
) -> float:
    """Create the nodes, then patch their status; return the seconds both took."""
    seconds = bulk.run(
        "nodes", (("POST", "/api/v1/nodes", node) for node in nodes), len(nodes), deadline
    )
    patches = (
        ("PATCH", f"/api/v1/nodes/{node['metadata']['name']}/status", status)
        for node, status in zip(nodes, statuses, strict=True)
    )
    seconds += bulk.run(
        "node status", patches, len(nodes), deadline, "application/merge-patch+json"
    )
    return seconds


def ready_condition() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


def wait_for_kwok(
    bulk: Bulk, deadline: Deadline, nodes: int, pods: int, pending_path: str
) -> tuple[float, float]:
    """Wait until KWOK holds a lease for every node and no pod is Pending; the two times."""
    leases = wait_for(
        f"KWOK leases of {nodes} nodes",
        lambda: (
            bulk.count("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases") >= nodes
        ),
        deadline,
        interval=2,
        progress=lambda: str(
            bulk.count("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        ),
    )

    def pending() -> int:
        body = bulk.get(f"{pending_path}&limit=5000")
        items = len(body.get("items") or [])
        return items if not (body.get("metadata") or {}).get("continue") else items + 1

    running = wait_for(
        f"KWOK to run {pods} pods",
        lambda: pending() == 0,
        deadline,
        interval=3,
        progress=lambda: f"{pending()} still Pending (5,000+ means at least)",
    )
    return leases, running


class Heartbeats:
    """Node status heartbeats at the kubelet's pace: each node once per ``period`` seconds.

    A kubelet rewrites its node's conditions (``lastHeartbeatTime``) every
    ``nodeStatusReportFrequency`` (5 min) even when nothing changed; for nodes KWOK does not
    manage, this thread does it (Ready, by strategic merge on the condition type).
    """

    def __init__(self, bulk: Bulk, names: list[str], period: float = 300.0) -> None:
        self.bulk, self.names, self.period = bulk, names, period
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Heartbeats:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pause = self.period / max(len(self.names), 1)
        index = 0
        while not self._stop.wait(pause):
            condition = ready_condition()
            patch = {"status": {"conditions": [condition]}}
            name = self.names[index % len(self.names)]
            self.bulk.request(
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                patch,
                "application/strategic-merge-patch+json",
            )
            self.sent += 1
            index += 1


def idle_rows(
    operator: OperatorRun,
    seconds: float,
    counter: str | None,
    deadline: Deadline,
    heartbeats: Heartbeats | None = None,
) -> list[tuple[str, str]]:
    """The operator's CPU share (and how often ``counter`` grew) over ``seconds`` of quiet."""
    seconds = max(0.0, min(seconds, deadline.left() - 30))
    if seconds <= 0:
        return []
    what = "node heartbeats at the kubelet's 5 min pace" if heartbeats else "KWOK's heartbeats"
    say(f"measuring {seconds:.0f} s with nothing changing in the cluster but {what}")
    _, _, cpu_before = operator.usage()
    count_before = operator.metrics().get(counter, 0.0) if counter else 0.0
    if heartbeats is None:
        time.sleep(seconds)
    else:
        with heartbeats:
            time.sleep(seconds)
    operator.alive()
    _, _, cpu_after = operator.usage()
    share = f"{(cpu_after - cpu_before) / seconds * 100:.0f} % of a core"
    label = f"quiet {seconds:.0f} s" + (f" ({heartbeats.sent} heartbeats)" if heartbeats else "")
    if counter is None:
        return [(f"{label}: operator CPU", share)]
    count = operator.metrics().get(counter, 0.0) - count_before
    return [(f"{label}: operator CPU / recomputes", f"{share} / {count:.0f}")]


def usage_rows(operator: OperatorRun) -> list[tuple[str, str]]:
    hwm, rss, cpu = operator.usage()
    return [
        ("operator peak RSS (VmHWM)", f"{hwm:.0f} MiB"),
        ("operator RSS now", f"{rss:.0f} MiB"),
        ("operator CPU (user+system)", f"{cpu:.1f} s"),
    ]


Rows = list[tuple[str, str]]


@dataclass
class ScaleBench:
    """What differs between the scale benchmarks; ``run_scale_bench`` does the rest."""

    controller: str
    marker_namespace: str  # exists once the cluster is populated
    title: str
    populate: Callable[[Bulk, Deadline], Rows]
    measure: Callable[[Bulk, Deadline, OperatorRun], Rows]
    prepare: Callable[[Bulk], None] = lambda bulk: None  # before the operator starts


def run_scale_bench(bench: ScaleBench, args: Any) -> None:
    """Cluster up, populate (or reuse), start the operator, measure, print, tear down."""
    deadline = Deadline(args.timeout)
    cluster = BenchCluster(args.cluster_dir, keep=args.keep_cluster)
    operator: OperatorRun | None = None
    try:
        state = cluster.up()
        bulk = Bulk(state, args.concurrency)
        if bulk.request("GET", f"/api/v1/namespaces/{bench.marker_namespace}")[0] == 404:
            rows = bench.populate(bulk, deadline)
        else:
            say(
                f"the cluster is already populated ({bench.marker_namespace} exists): "
                "reusing it as it is"
            )
            rows = [("population", "reused")]
        if args.populate_only:
            cluster.keep = True
            print_table("population", rows)
            return
        bench.prepare(bulk)
        before = bulk.apiserver_requests()
        operator = OperatorRun(state, bench.controller, log_path=args.log)
        operator.start()
        rows += bench.measure(bulk, deadline, operator)
        rows += usage_rows(operator)
        delta = request_delta(before, bulk.apiserver_requests())
        rows.append(("apiserver requests while it ran", str(sum(delta.values()))))
        rows += top_requests(delta)
        print_table(bench.title, rows)
    except BenchError as error:
        say(f"FAILED: {error}")
        raise SystemExit(1) from error
    finally:
        if operator is not None:
            operator.stop()
        cluster.down()
