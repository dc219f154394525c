"""The operator as a pod on a real node, installed by Helm the way ``dev-cluster install`` does.

One release per module (two replicas, leader election on) in a namespace that enforces the
restricted Pod Security Standard. The operator watches only that namespace (``--namespace``), so
it never acts on other tests' Autoscalers. The replica holding the release's leader Lease acts;
the other stands by (kopf's own peering is off: the Lease alone decides).

The session's own cluster-wide operator (the ``operator`` fixture) is stopped for the module,
so the release's replicas are the only writers of its Autoscaler: a status write by the active
replica's ServiceAccount is then certain, and proves it acts under the chart's RBAC. Other
sessions on a shared cluster may run such an operator of their own; it would also act on this
module's Autoscaler, so the "exactly one SuccessfulRescale event" check only runs when no such
process with this cluster's kubeconfig exists on this machine (another e2e worker's operator
acts on that worker's cluster); the per-replica proof (the standby logs no rescale) always runs.
"""

from __future__ import annotations

import ipaddress
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    set_usage,
    spec_replicas,
    wait_ready,
)

from podpilot_dev import audit, install, realnodes
from podpilot_dev import cluster as dev_cluster
from podpilot_dev.cluster import ClusterState

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
KOPF_CRD = REPO / "helm" / "podpilot" / "crds" / "clusterkopfpeerings.kopf.dev.yaml"
HANDOVER_BOUND_SECONDS = 20
Json = Callable[..., Any]


@pytest.fixture(scope="module")
def release(
    cluster: ClusterState, kubectl: Kubectl, operator: OperatorProcess
) -> Iterator[tuple[str, str]]:
    if not realnodes.real_node_names(cluster.directory):
        pytest.skip(
            "the dev cluster has no real nodes; restart it with "
            "'podpilot-dev cluster down && podpilot-dev cluster up --real-nodes 2'"
        )
    name = f"ppic-{uuid.uuid4().hex[:6]}"
    namespace = name
    # The audit log tells which identity wrote what (test_autoscaler_scales_its_target_...).
    dev_cluster.ensure_audit_log(cluster)
    # The session's own operator watches every namespace: stopped for the module, so that the
    # release's replicas are the only writers of its Autoscaler and each check below runs.
    operator.stop()
    try:
        _namespaced_peering(kubectl, namespace, name)
        install.install(
            cluster,
            release=name,
            namespace=namespace,
            replicas=2,
            extra_args=[f"--namespace={namespace}"],
            overrides={
                "controllers": {
                    "autoscaler": {"enabled": True},
                    "emptydir": {"enabled": False},
                    "flannel": {"enabled": False},
                },
                "peering": {"enabled": True, "name": name},
            },
            timeout="150s",
        )
        yield name, namespace
    finally:
        helm = [cluster.binaries["helm"], "uninstall", name, "-n", namespace, "--wait"]
        subprocess.run(helm, capture_output=True, env=install.helm_environment(cluster))
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        operator.start()


def _namespaced_peering(kubectl: Kubectl, namespace: str, name: str) -> None:
    """kopf's KopfPeering CRD (if missing), the namespace, and the peering object in it."""
    if kubectl("get", "crd", "kopfpeerings.kopf.dev", check=False).returncode != 0:
        crd = yaml.safe_load(KOPF_CRD.read_text())
        crd["metadata"] = {"name": "kopfpeerings.kopf.dev"}
        crd["spec"]["scope"] = "Namespaced"
        crd["spec"]["names"] = {
            "kind": "KopfPeering",
            "plural": "kopfpeerings",
            "singular": "kopfpeering",
        }
        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(crd))
        kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev")
    labels = {**install.RESTRICTED, "podpilot.io/e2e": "true"}
    namespace_object = {"apiVersion": "v1", "kind": "Namespace"}
    namespace_object["metadata"] = {"name": namespace, "labels": labels}  # type: ignore[assignment]
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(namespace_object))
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering"}
    peering["metadata"] = {"name": name, "namespace": namespace}  # type: ignore[assignment]
    kubectl("apply", "-f", "-", input=yaml.safe_dump(peering))
    wait_until(
        lambda: kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the default ServiceAccount",
    )


def operator_pods(kubectl_json: Json, namespace: str, name: str) -> list[dict[str, Any]]:
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}")
    return [p for p in pods["items"] if "deletionTimestamp" not in p["metadata"]]


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def logs(kubectl: Kubectl, namespace: str, pod: str) -> str:
    return kubectl("logs", "-n", namespace, pod, check=False).stdout


def _processes_in(namespace: str) -> list[int]:
    """Host PIDs of the operator containers of ``namespace`` (this machine runs the nodes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            b"/usr/local/bin/podpilot" in command
            and f"POD_NAMESPACE={namespace}".encode() in environ
        ):
            found.append(int(entry.name))
    return found


def _remote_endpoints(pid: int) -> set[tuple[str, int]]:
    """Remote ends of the established TCP connections this process's pod opened."""
    endpoints = set()
    for line in (Path("/proc") / str(pid) / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        address, port = fields[2].split(":")
        if fields[3] != "01" or local_port in (8080, 9808):  # established, not inbound probes
            continue
        ip = ipaddress.IPv4Address(bytes(reversed(bytes.fromhex(address))))
        endpoints.add((str(ip), int(port, 16)))
    return endpoints


def _foreign_operators(namespace: str, kubeconfig: Path) -> bool:
    """Does a standalone ``podpilot run`` of another session watch ``namespace`` on this
    cluster (its ``KUBECONFIG`` is this cluster's)? Operators of other dev clusters on the
    machine, such as another e2e worker's, act elsewhere."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if "run" not in command or "--standalone" not in command:
            continue
        if not any("podpilot" in part for part in command):
            continue
        if f"KUBECONFIG={kubeconfig}".encode() not in environ:
            continue
        watched = [part.split("=", 1)[1] for part in command if part.startswith("--namespace=")]
        if not watched or namespace in watched:
            return True
    return False


def test_operator_runs_on_real_nodes_under_restricted_and_dials_only_the_relay(
    release: tuple[str, str], cluster: ClusterState, kubectl_json: Json, kubectl: Kubectl
) -> None:
    name, namespace = release
    labels = kubectl_json("get", "namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = wait_until(
        lambda: [p for p in operator_pods(kubectl_json, namespace, name) if is_ready(p)],
        timeout=60,
        what="operator pods Ready",
    )
    assert len(pods) == 2
    real = set(realnodes.real_node_names(cluster.directory))
    assert {pod["spec"]["nodeName"] for pod in pods} <= real
    gateway = realnodes.Ledger.load(cluster.directory).network.gateway  # type: ignore[union-attr]
    for pod in pods:
        text = logs(kubectl, namespace, pod["metadata"]["name"])
        assert "Activity 'login' succeeded" in text  # handlers/lifecycle.py, in-cluster config
        assert "10.96." not in text
    pids = _processes_in(namespace)
    assert len(pids) == 2, f"expected both operator processes on this machine, found {pids}"
    for pid in pids:
        endpoints = _remote_endpoints(pid)
        assert endpoints == {(gateway, realnodes.RELAY_PORT)}, endpoints
        assert not [
            ip
            for ip, _ in endpoints
            if ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.96.0.0/12")
        ]


def restricted(document: dict[str, Any]) -> dict[str, Any]:
    """A KWOK Deployment that the restricted Pod Security Standard admits."""
    pod = document["spec"]["template"]["spec"]
    pod["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in pod["containers"]:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
    return document


def rescale_events(kubectl_json: Json, namespace: str, message: str) -> list[dict[str, Any]]:
    events = kubectl_json("get", "events", "-n", namespace)["items"]
    return [e for e in events if e.get("reason") == "SuccessfulRescale" and message in e["message"]]


def leader(kubectl_json: Json, namespace: str) -> str | None:
    """The pod whose replica holds the release's leader Lease (its identity is the pod's name,
    ``_`` and a random suffix), or None while nobody holds it."""
    for lease in kubectl_json("get", "leases", "-n", namespace)["items"]:
        holder = (lease.get("spec") or {}).get("holderIdentity") or ""
        if holder:
            return str(holder.rsplit("_", 1)[0])
    return None


def roles(kubectl: Kubectl, kubectl_json: Json, namespace: str, name: str) -> tuple[str, str]:
    """(active, standby) pod names: the Lease's holder acts, the other stands by."""
    pods = [p["metadata"]["name"] for p in operator_pods(kubectl_json, namespace, name)]
    active = leader(kubectl_json, namespace)
    assert len(pods) == 2 and active in pods, f"pods {pods}, leader {active}"
    return active, next(p for p in pods if p != active)


def leader_gauge(kubectl: Kubectl, kubectl_json: Json, namespace: str, pod: str) -> float:
    """``podpilot_leader`` as the pod's own /metrics serves it (read from inside the pod, with
    the image's interpreter: it has no shell or curl)."""
    spec = kubectl_json("get", "pod", "-n", namespace, pod)["spec"]
    (port,) = [p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])
               if p.get("name") == "metrics"]  # fmt: skip
    read = (
        "import urllib.request as r; "
        f"print(r.urlopen('http://127.0.0.1:{port}/metrics', timeout=5).read().decode())"
    )
    served = kubectl("exec", "-n", namespace, pod, "--", "python3.11", "-c", read).stdout
    (line,) = [line for line in served.splitlines() if line.startswith("podpilot_leader ")]
    return float(line.split()[1])


def service_account(kubectl_json: Json, namespace: str, pod: str) -> str:
    """The user name the API server knows ``pod``'s operator by."""
    account = kubectl_json("get", "pod", "-n", namespace, pod)["spec"]["serviceAccountName"]
    return f"system:serviceaccount:{namespace}:{account}"


def test_autoscaler_scales_its_target_and_only_one_replica_acts(
    release: tuple[str, str], cluster: ClusterState, kubectl: Kubectl, kubectl_json: Json
) -> None:
    name, namespace = release
    began = datetime.now(UTC)
    apply(
        kubectl,
        namespace,
        restricted(deployment("web", 2, usage_cpu="50m")),
        # maxReplicas 4: the step is exactly 2 -> 4 even if simulated usage overshoots briefly.
        autoscaler("web", "web", min_replicas=2, max_replicas=4, metrics=[cpu_utilization(50)],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", 2)
    active, standby = wait_until(
        lambda: roles(kubectl, kubectl_json, namespace, name), timeout=60, what="active/standby"
    )
    # The Lease's holder says it leads on /metrics, the standby says it does not.
    assert leader_gauge(kubectl, kubectl_json, namespace, active) == 1.0
    assert leader_gauge(kubectl, kubectl_json, namespace, standby) == 0.0
    set_usage(kubectl, namespace, "web", cpu="100m")
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 4,
        timeout=90,
        what="web scaled to 4",
    )
    if not _foreign_operators(namespace, cluster.kubeconfig):
        # Another operator watching every namespace may have scaled web first.
        wait_until(
            lambda: "web: " in logs(kubectl, namespace, active),
            timeout=30,
            what="the active replica logging its rescale",
        )
    assert "web: " not in logs(kubectl, namespace, standby)
    # Under the chart's RBAC, not only the admin's: the active replica itself read its
    # Autoscaler to resume from and wrote its status, and neither replica was refused anything.
    user = service_account(kubectl_json, namespace, active)
    wait_until(
        lambda: audit.writes_to("status", audit.read(cluster.audit_log, began), namespace, [user]),
        timeout=30,
        what=f"a status write by {user} in the audit log",
    )
    for pod in (active, standby):
        lines = logs(kubectl, namespace, pod).splitlines()
        refused = [line for line in lines if "forbidden" in line.lower()]
        assert refused == [], f"{pod} was refused: {refused}"
    if not _foreign_operators(namespace, cluster.kubeconfig):
        time.sleep(5)  # one more evaluation period: a duplicate would have been posted by now
        assert len(rescale_events(kubectl_json, namespace, "New size: 4")) == 1


def test_deleting_the_active_replica_hands_over(
    release: tuple[str, str], cluster: ClusterState, kubectl: Kubectl, kubectl_json: Json
) -> None:
    """The Lease passes to a live replica: usually the standby, but the Deployment's replacement
    pod may win the race when the deleted leader's release comes late; either is a handover."""
    name, namespace = release
    active, standby = roles(kubectl, kubectl_json, namespace, name)
    started = time.monotonic()
    kubectl("delete", "pod", active, "-n", namespace, "--wait=false")
    successor = wait_until(
        lambda: _successor(kubectl_json, namespace, name, deleted=active),
        timeout=60,
        what="a live replica other than the deleted one taking the leader Lease",
        interval=0.25,
    )
    handover = time.monotonic() - started
    print(
        f"handover after deleting the active replica: {handover:.1f}s (to {successor}, "
        f"{'the standby' if successor == standby else 'the replacement pod'})"
    )
    assert handover < HANDOVER_BOUND_SECONDS
    set_usage(kubectl, namespace, "web", cpu="20m")
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 2,
        timeout=90,
        what="the new active replica scaling web back to 2",
    )
    if not _foreign_operators(namespace, cluster.kubeconfig):
        # With another operator watching every namespace, it may scale web down first.
        assert "web: " in logs(kubectl, namespace, successor)


def _successor(kubectl_json: Json, namespace: str, name: str, *, deleted: str) -> str | None:
    holder = leader(kubectl_json, namespace)
    live = {p["metadata"]["name"] for p in operator_pods(kubectl_json, namespace, name)}
    return holder if holder and holder != deleted and holder in live else None


def test_uninstall_leaves_nothing_but_crds(
    release: tuple[str, str], cluster: ClusterState, kubectl: Kubectl, kubectl_json: Json
) -> None:
    name, namespace = release
    helm = [cluster.binaries["helm"], "uninstall", name, "-n", namespace, "--wait"]
    result = subprocess.run(
        helm, capture_output=True, text=True, env=install.helm_environment(cluster)
    )
    assert result.returncode == 0, result.stderr
    selector = f"app.kubernetes.io/instance={name}"
    left = kubectl_json(
        "get", "clusterroles,clusterrolebindings,clusterkopfpeerings", "-l", selector
    )
    assert left["items"] == []
    wait_until(
        lambda: not kubectl_json(
            "get", "all,serviceaccounts,roles,rolebindings,poddisruptionbudgets", "-n", namespace,
            "-l", selector,
        )["items"],
        timeout=60,
        what="every namespaced object of the release gone",
    )  # fmt: skip
    assert kubectl_json("get", "crd", "autoscalers.podpilot.io")["metadata"]["name"]
