"""Fault injection on the local-process dev cluster (docs/reliability.md).

- ``paused``: a component stopped with SIGSTOP for a block, always continued after it;
- ``killed``: a component SIGKILLed for a block, always relaunched after it from the command
  line, environment and log recorded when the dev cluster started it (``cluster.relaunch``);
- ``apiservice_pointed_at_dead_port``: an aggregated API's APIService sent to a 127.0.0.1 port
  that refuses connections, always pointed back after the block;
- ``wait_recovered``: after kube-apiserver or etcd was killed, the cluster back as the next
  tests expect it.

While a component is paused, anything that goes through discovery may wait on it, so the
helpers below read and write with ``kubectl --raw`` and a request timeout. Every address
involved is on 127.0.0.1; every call is bounded.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot.apimachinery.group import API_VERSION
from podpilot_dev import cluster as dev_cluster
from podpilot_dev import processes

REQUEST_TIMEOUT = "10s"  # each kubectl call during a fault
RESTORE_TIMEOUT = 60.0  # pointing an APIService back, retried on conflicts until then


@contextmanager
def paused(cluster: dev_cluster.ClusterState, component: str) -> Iterator[None]:
    """``component`` stopped with SIGSTOP for the block, and always continued after it."""
    process = cluster.processes[component]
    assert processes.is_alive(process), f"{component} is not running"
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if processes.is_alive(process):
            os.kill(process.pid, signal.SIGCONT)


@contextmanager
def killed(
    cluster: dev_cluster.ClusterState, component: str, relaunch_timeout: float = 120.0
) -> Iterator[None]:
    """``component`` SIGKILLed for the block, and always relaunched (and healthy) after it,
    with its new PID in the dev cluster's state."""
    process = cluster.processes[component]
    assert processes.is_alive(process), f"{component} is not running"
    # Checked before the kill: a cluster started before commands were recorded could not
    # bring the component back.
    assert process.command, (
        f"{component} has no recorded command line; restart the dev cluster "
        "(scripts/dev cluster down, then up) so that it can be relaunched"
    )
    processes.kill(process)
    try:
        yield
    finally:
        dev_cluster.relaunch(cluster, component, timeout=relaunch_timeout)


def raw(kubectl: Kubectl, verb: str, path: str, body: Any = None) -> str | None:
    """``kubectl <verb> --raw``: the response body, or None when the server refused it."""
    result = kubectl(
        verb, "--raw", path, f"--request-timeout={REQUEST_TIMEOUT}",
        *(["-f", "-"] if body is not None else []),
        input=json.dumps(body) if body is not None else None,
        check=False,
    )  # fmt: skip
    return result.stdout if result.returncode == 0 else None


def raw_json(kubectl: Kubectl, path: str) -> dict[str, Any] | None:
    body = raw(kubectl, "get", path)
    return dict(json.loads(body)) if body else None


def autoscaler_path(namespace: str, name: str = "") -> str:
    path = f"/apis/{API_VERSION}/namespaces/{namespace}/autoscalers"
    return f"{path}/{name}" if name else path


def autoscaler_status(kubectl: Kubectl, namespace: str, name: str = "web") -> dict[str, Any]:
    """The Autoscaler's status, or {} when it could not be read this time."""
    found = raw_json(kubectl, autoscaler_path(namespace, name))
    return dict(found.get("status") or {}) if found else {}


def status_condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in status.get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def apiservice_path(name: str) -> str:
    return f"/apis/apiregistration.k8s.io/v1/apiservices/{name}"


def apiservice_availability(kubectl: Kubectl, name: str) -> str | None:
    """The APIService's Available condition status ("True", "False"), None when unread."""
    found = raw_json(kubectl, apiservice_path(name))
    if found is None:
        return None
    for condition in (found.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available":
            return str(condition.get("status"))
    return None


def annotate_pods(kubectl: Kubectl, namespace: str, app: str, **usage: str) -> None:
    """``workloads.set_usage`` with a request timeout, retried while an aggregated API is down
    (kubectl's discovery may have to wait for it)."""
    annotations = [f"kwok.x-k8s.io/usage-{resource}={value}" for resource, value in usage.items()]
    command = [
        "annotate", "pods", "-n", namespace, "-l", f"app={app}", "--overwrite",
        f"--request-timeout={REQUEST_TIMEOUT}", *annotations,
    ]  # fmt: skip
    wait_until(
        lambda: kubectl(*command, check=False).returncode == 0,
        timeout=60,
        what=f"usage {usage} set on the pods of {app}",
    )


class ReplicaRecord:
    """Every ``spec.replicas`` of one Deployment seen during a test, read without discovery."""

    def __init__(self, kubectl: Kubectl, namespace: str, name: str) -> None:
        self._kubectl = kubectl
        self._path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        self.seen: list[tuple[float, int]] = []  # (monotonic time, replicas)

    def read(self) -> int | None:
        found = raw_json(self._kubectl, self._path)
        if found is None:
            return None
        replicas = int(found["spec"]["replicas"])
        self.seen.append((time.monotonic(), replicas))
        return replicas

    def watch(self, seconds: float, interval: float = 2.0) -> None:
        """Read the count every ``interval`` for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read()
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def decreases(self) -> list[tuple[int, int]]:
        """Every (before, after) pair of consecutive readings where the count went down."""
        counts = [replicas for _, replicas in self.seen]
        return [(a, b) for a, b in itertools.pairwise(counts) if b < a]


def rescale_sizes(kubectl: Kubectl, namespace: str) -> list[int]:
    """The new sizes of every ``SuccessfulRescale`` Event in the namespace ("New size: N; ...")."""
    events = raw_json(kubectl, f"/api/v1/namespaces/{namespace}/events") or {}
    sizes = []
    for event in events.get("items") or []:
        if event.get("reason") == "SuccessfulRescale":
            found = re.search(r"New size: (\d+)", str(event.get("message")))
            if found:
                sizes.append(int(found.group(1)))
    return sizes


def replica_set_scale_downs(kubectl: Kubectl, namespace: str) -> list[str]:
    """The Deployment controller's Events of a ReplicaSet scaled down (none expected)."""
    events = raw_json(kubectl, f"/api/v1/namespaces/{namespace}/events") or {}
    return [
        str(event.get("message"))
        for event in events.get("items") or []
        if event.get("reason") == "ScalingReplicaSet" and "Scaled down" in str(event.get("message"))
    ]


def _set_apiservice_port(kubectl: Kubectl, name: str, port: int) -> None:
    """PUT the APIService with ``spec.service.port`` = ``port``, re-read on each conflict."""

    def attempt() -> bool:
        found = raw_json(kubectl, apiservice_path(name))
        if found is None:
            return False
        if found["spec"]["service"]["port"] == port:
            return True
        found["spec"]["service"]["port"] = port
        return raw(kubectl, "replace", apiservice_path(name), found) is not None

    wait_until(attempt, timeout=RESTORE_TIMEOUT, what=f"APIService {name} pointed at port {port}")


@contextmanager
def apiservice_pointed_at_dead_port(kubectl: Kubectl, name: str) -> Iterator[int]:
    """The APIService ``name`` pointed at a 127.0.0.1 port that refuses every connection for
    the block (yielded), and always pointed back at its own port after it.

    The dev cluster registers each aggregated API with an ExternalName Service whose name is
    127.0.0.1 and the backend's port in the APIService (``Bringup.register_api_services``), so
    changing ``spec.service.port`` moves the aggregator's target. The dead port stays bound,
    without listening, for the whole block: nothing else can take it, and a connection to it
    is refused at once.
    """
    found = raw_json(kubectl, apiservice_path(name))
    assert found is not None, f"APIService {name} cannot be read"
    service = found["spec"].get("service") or {}
    assert service.get("port"), f"APIService {name} has no service port: {found['spec']}"
    original_port = int(service["port"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserved:
        reserved.bind(("127.0.0.1", 0))
        dead_port: int = reserved.getsockname()[1]
        _set_apiservice_port(kubectl, name, dead_port)
        try:
            yield dead_port
        finally:
            _set_apiservice_port(kubectl, name, original_port)


AGGREGATED_APIS = (
    "v1beta1.metrics.k8s.io",
    "v1beta1.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
)


def wait_recovered(
    cluster: dev_cluster.ClusterState, kubectl: Kubectl, timeout: float = 120.0
) -> None:
    """After a control-plane fault, the cluster as the next tests expect it: every component
    ``up`` started running (one that exited meanwhile is relaunched), kube-apiserver ready and
    every aggregated API Available again (the aggregator checks them afresh after a restart)."""
    for name in dev_cluster.ORDER:
        process = cluster.processes.get(name)
        if process is not None and not processes.is_alive(process):
            dev_cluster.relaunch(cluster, name)
    wait_until(
        lambda: raw(kubectl, "get", "/readyz") is not None,
        timeout=timeout,
        what="kube-apiserver ready",
    )
    wait_until(
        lambda: all(apiservice_availability(kubectl, name) == "True" for name in AGGREGATED_APIS),
        timeout=timeout,
        what=f"APIServices {', '.join(AGGREGATED_APIS)} Available again",
    )
