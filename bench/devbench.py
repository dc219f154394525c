"""The dev-cluster harness of the benchmarks that run podpilot beside the built-in HPA.

Run those benchmarks from the repository root as modules (``.venv/bin/python -m bench.NAME``),
so they can reuse the e2e building blocks in ``tests/e2e``. They use the cluster that
``podpilot-dev cluster up`` started, or start one for the run (KWOK nodes only) and stop it at
the end. ``PODPILOT_DEV_CLUSTER_DIR`` picks another cluster, e.g. a private one that does not
disturb anyone else's tests (it is started if it is not running)::

    PODPILOT_DEV_CLUSTER_DIR=/tmp/pp-bench .venv/bin/python -m bench.decision_parity

Every connection goes to 127.0.0.1: the apiserver, the test exporter and Prometheus.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from tests.e2e.conftest import OperatorProcess, kubectl_runner
from tests.e2e.waiting import wait_until

from podpilot_dev import cluster
from podpilot_dev.cluster import ClusterState
from podpilot_dev.paths import state_root
from podpilot_dev.wiring import install_crds


@contextmanager
def dev_cluster() -> Iterator[ClusterState]:
    """The running dev cluster (``PODPILOT_DEV_CLUSTER_DIR`` or the default one), with CRDs.

    With none running, a KWOK-only one is started for this run and stopped at the end
    (``PODPILOT_KEEP_CLUSTER=1`` keeps it), as the e2e session fixture does.
    """
    existing = ClusterState.load()
    reused = existing is not None and existing.ready and existing.all_alive()
    if not reused:
        print(f"no running dev cluster in {state_root()}; starting one (KWOK nodes only)")
    state = cluster.up(real_nodes=0)
    install_crds(state)
    try:
        yield state
    finally:
        if not reused and os.environ.get("PODPILOT_KEEP_CLUSTER") != "1":
            cluster.down()


class Kube:
    """kubectl (for manifests, in the e2e helpers' calling convention) and typed clients."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.kubectl = kubectl_runner(state)
        self.api = kubernetes.config.new_client_from_config(config_file=str(state.kubeconfig))
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.apps = kubernetes.client.AppsV1Api(self.api)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.kubectl(*args, input=input, check=check)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def apply(self, namespace: str, documents: list[Mapping[str, Any]]) -> None:
        self("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(list(documents)))

    def close(self) -> None:
        self.api.close()


@contextmanager
def bench_namespace(kube: Kube, prefix: str) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube("create", "namespace", name)
    # Pods are refused until the controller manager has created the default ServiceAccount.
    wait_until(
        lambda: kube("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        timeout=30,
        what=f"the default ServiceAccount in {name}",
    )
    try:
        yield name
    finally:
        kube("delete", "namespace", name, "--wait=false", check=False)


@contextmanager
def operator_for(state: ClusterState, namespace: str) -> Iterator[OperatorProcess]:
    """podpilot's Autoscaler controller for one namespace, with the dev cluster's HPA timings."""
    operator = OperatorProcess(state, Path(tempfile.mkdtemp(prefix="podpilot-bench-")))
    operator.command += [f"--namespace={namespace}", "--controllers=autoscaler"]
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        print(f"operator log: {operator.log_path}")


@dataclass(frozen=True)
class Session:
    state: ClusterState
    kube: Kube
    namespace: str


@contextmanager
def bench_session(prefix: str) -> Iterator[Session]:
    """The dev cluster, a fresh namespace and podpilot's operator watching it."""
    with dev_cluster() as state:
        kube = Kube(state)
        try:
            with bench_namespace(kube, prefix) as namespace, operator_for(state, namespace):
                yield Session(state, kube, namespace)
        finally:
            kube.close()


@dataclass(frozen=True)
class Change:
    at: float  # time.monotonic()
    name: str
    replicas: int


class ReplicaWatch:
    """Every change of ``spec.replicas`` of the Deployments in a namespace, timed on arrival.

    A watch rather than polling: the change is timed within milliseconds of the patch, and
    the benchmark costs the cluster one connection.
    """

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.replicas: dict[str, int] = {}
        self.changes: list[Change] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(
                    self.kube.apps.list_namespaced_deployment, self.namespace, timeout_seconds=60
                ):
                    self._seen(event["object"].metadata.name, event["object"].spec.replicas)
                    if self.stopped.is_set():
                        break
            except Exception:  # a dropped watch: start it again
                time.sleep(0.5)
            finally:
                watch.stop()

    def _seen(self, name: str, replicas: int | None) -> None:
        if replicas is None:
            return
        with self.lock:
            if self.replicas.get(name) != replicas:
                if name in self.replicas:
                    self.changes.append(Change(time.monotonic(), name, replicas))
                self.replicas[name] = replicas

    def current(self, name: str) -> int | None:
        with self.lock:
            return self.replicas.get(name)

    def last_change(self, name: str) -> float | None:
        with self.lock:
            return next((c.at for c in reversed(self.changes) if c.name == name), None)

    def first_reaching(self, name: str, replicas: int, since: float) -> float | None:
        with self.lock:
            return next(
                (
                    c.at
                    for c in self.changes
                    if c.name == name and c.at >= since and c.replicas == replicas
                ),
                None,
            )

    def stop(self) -> None:
        self.stopped.set()


def running_pods(kube: Kube, namespace: str) -> dict[str, list[Any]]:
    """Running pods by their ``app`` label, without the ones being deleted."""
    by_app: dict[str, list[Any]] = {}
    for pod in kube.core.list_namespaced_pod(namespace).items:
        if pod.metadata.deletion_timestamp is None and pod.status.phase == "Running":
            by_app.setdefault((pod.metadata.labels or {}).get("app", ""), []).append(pod)
    return by_app


class SpreadLoad:
    """Total simulated usage shared equally by a Deployment's running pods, as behind a Service.

    The share is re-applied whenever the pod count changes, so a replica count that carries the
    load is a fixed point (as with real traffic) rather than a constant per-pod usage that
    either never moves or runs to maxReplicas. KWOK integrates its CPU counter at each scrape
    with the usage annotated at that moment, so a new share shows in metrics.k8s.io from the
    next metrics-server scrape on, without an overshoot.
    """

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.totals: dict[tuple[str, str], int] = {}  # (app, resource) -> total in units

    def set(self, app: str, resource: str, total: int) -> None:
        self.totals[(app, resource)] = total

    def apply(self) -> int:
        """Annotate every pod whose share changed; return how many were annotated."""
        pods = running_pods(self.kube, self.namespace)
        annotated = 0
        for (app, resource), total in self.totals.items():
            members = pods.get(app, [])
            unit = "m" if resource == "cpu" else "Mi"
            share = f"{total // max(len(members), 1)}{unit}"
            key = f"kwok.x-k8s.io/usage-{resource}"
            for pod in members:
                if (pod.metadata.annotations or {}).get(key) != share:
                    body = {"metadata": {"annotations": {key: share}}}
                    try:
                        self.kube.core.patch_namespaced_pod(pod.metadata.name, self.namespace, body)
                    except kubernetes.client.ApiException as error:
                        if error.status != 404:  # a pod deleted since the list: skip it
                            raise
                        continue
                    annotated += 1
        return annotated


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is one that was measured)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def sleep_while(action: Callable[[], object], seconds: float, tick: float = 1.0) -> None:
    """Sleep ``seconds``, calling ``action`` every ``tick`` (e.g. to keep the load spread)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        action()
        time.sleep(min(tick, max(left, 0)))
