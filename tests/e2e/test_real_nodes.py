"""Real kubelet nodes of the dev cluster: emptyDir accounting, eviction, tmpfs, flannel vxlan,
real CPU metrics and the built-in HPA, and a teardown that survives a killed ``up``.

The shared session cluster brings up ``DEFAULT_REAL_NODES`` real nodes; every pod here is
pinned to one of them with a toleration for their ``podpilot.io/dev-node=real`` taint.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev import cluster as dev_cluster
from podpilot_dev import flannel, images, kubelet, processes, realnodes
from podpilot_dev.paths import STATE_DIR_ENV

MIB = 1024 * 1024
TESTBOX = images.TESTBOX.reference


@pytest.fixture(scope="module")
def real_nodes(cluster: dev_cluster.ClusterState) -> list[dict[str, Any]]:
    nodes = realnodes.describe(cluster.directory)
    if not nodes:
        pytest.skip(
            "the running dev cluster has no real nodes; restart it with "
            "'podpilot-dev cluster down && podpilot-dev cluster up --real-nodes 2'"
        )
    return nodes


def _pod(
    name: str,
    node: str,
    script: str,
    *,
    volumes: list[dict[str, Any]] | None = None,
    resources: dict[str, Any] | None = None,
    restart_policy: str = "Never",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": TESTBOX,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", script],
        "volumeMounts": [{"name": v["name"], "mountPath": f"/{v['name']}"} for v in volumes or []],
    }
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": _pod_spec(node, container, volumes, restart_policy),
    }


def _pod_spec(
    node: str | None,
    container: dict[str, Any],
    volumes: list[dict[str, Any]] | None = None,
    restart_policy: str = "Never",
) -> dict[str, Any]:
    selector = (
        {"kubernetes.io/hostname": node} if node else {kubelet.ROLE_LABEL: kubelet.ROLE_VALUE}
    )
    return {
        "nodeSelector": selector,
        "tolerations": [{**kubelet.TAINT, "operator": "Equal"}],
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
        "volumes": volumes or [],
    }


def _apply(kubectl: Kubectl, namespace: str, *documents: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))


def _get(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def _wait_running(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        pod: dict[str, Any] = _get(kubectl, "pod", name, "-n", namespace)
        return pod if pod["status"].get("phase") == "Running" else None

    return wait_until(running, timeout=60, what=f"pod {namespace}/{name} Running")


def _stats_summary(kubectl: Kubectl, node: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(
        kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/stats/summary").stdout
    )
    return summary


def test_emptydir_usage_reaches_stats_summary(
    kubectl: Kubectl, namespace: str, real_nodes: list[dict[str, Any]]
) -> None:
    node = real_nodes[0]["name"]
    script = "dd if=/dev/zero of=/scratch/fill bs=1M count=20 && sleep 3600"
    _apply(kubectl, namespace, _pod("writer", node, script, volumes=[_empty_dir("scratch")]))
    _wait_running(kubectl, namespace, "writer")

    def scratch_used() -> int:
        for pod in _stats_summary(kubectl, node)["pods"]:
            if (pod["podRef"]["name"], pod["podRef"]["namespace"]) == ("writer", namespace):
                for volume in pod.get("volume", []):
                    if volume["name"] == "scratch":
                        return int(volume.get("usedBytes", 0))
        return 0

    wait_until(lambda: scratch_used() >= 20 * MIB, timeout=60, what="scratch usedBytes >= 20 MiB")


def _empty_dir(name: str, **options: str) -> dict[str, Any]:
    return {"name": name, "emptyDir": options}


def test_emptydir_over_its_size_limit_is_evicted(
    kubectl: Kubectl, namespace: str, real_nodes: list[dict[str, Any]]
) -> None:
    node = real_nodes[0]["name"]
    script = "dd if=/dev/zero of=/scratch/fill bs=1M count=16; sleep 3600"
    volume = _empty_dir("scratch", sizeLimit="8Mi")
    _apply(kubectl, namespace, _pod("overrun", node, script, volumes=[volume]))

    def evicted() -> dict[str, Any] | None:
        status: dict[str, Any] = _get(kubectl, "pod", "overrun", "-n", namespace)["status"]
        return status if status.get("reason") == "Evicted" else None

    status = wait_until(evicted, timeout=120, what="the kubelet to evict pod overrun")
    assert status["phase"] == "Failed"
    assert 'Usage of EmptyDir volume "scratch" exceeds the limit "8Mi"' in status["message"]


def test_memory_backed_emptydir_is_tmpfs_of_its_size_limit(
    kubectl: Kubectl, namespace: str, real_nodes: list[dict[str, Any]]
) -> None:
    node = real_nodes[-1]["name"]
    volume = _empty_dir("ram", medium="Memory", sizeLimit="32Mi")
    _apply(kubectl, namespace, _pod("tmpfs", node, "sleep 3600", volumes=[volume]))
    _wait_running(kubectl, namespace, "tmpfs")
    mounts = kubectl("exec", "-n", namespace, "tmpfs", "--", "cat", "/proc/mounts").stdout
    fields = next(line.split() for line in mounts.splitlines() if line.split()[1] == "/ram")
    assert fields[2] == "tmpfs"
    assert "size=32768k" in fields[3].split(",")


def test_pods_on_two_real_nodes_talk_over_flannel_vxlan(
    kubectl: Kubectl, namespace: str, real_nodes: list[dict[str, Any]]
) -> None:
    if len(real_nodes) < 2:
        pytest.skip("needs two real nodes")
    first, second = real_nodes[0], real_nodes[1]
    serve = "hostname > /www/index.html && httpd -f -p 8080 -h /www"
    _apply(
        kubectl,
        namespace,
        _pod("web-a", first["name"], serve),
        _pod("web-b", second["name"], serve),
    )
    pod_a = _wait_running(kubectl, namespace, "web-a")
    pod_b = _wait_running(kubectl, namespace, "web-b")
    for pod, node in ((pod_a, first), (pod_b, second)):
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(
            node["pod_cidr"]
        )

    def fetch(client: str, server: dict[str, Any]) -> str:
        url = f"http://{server['status']['podIP']}:8080/index.html"
        # busybox wget's own -T crashes in this static build; timeout(1) bounds it instead.
        fetch_command = ["timeout", "5", "wget", "-q", "-O", "-", url]
        result = kubectl("exec", "-n", namespace, client, "--", *fetch_command, check=False)
        return result.stdout.strip()

    assert wait_until(lambda: fetch("web-a", pod_b) == "web-b", timeout=30, what="a -> b")
    assert wait_until(lambda: fetch("web-b", pod_a) == "web-a", timeout=30, what="b -> a")

    net_conf = json.loads(
        _get(kubectl, "configmap", flannel.CONFIGMAP, "-n", flannel.NAMESPACE)["data"][
            flannel.NET_CONF_KEY
        ]
    )
    for node in (first, second):
        _assert_flannel_matches_pod_cidr(kubectl, node, net_conf)


def _assert_flannel_matches_pod_cidr(
    kubectl: Kubectl, node: dict[str, Any], net_conf: dict[str, Any]
) -> None:
    obj = _get(kubectl, "node", node["name"])
    pod_cidr = ipaddress.ip_network(obj["spec"]["podCIDR"])
    assert str(pod_cidr) == node["pod_cidr"]
    annotations = obj["metadata"]["annotations"]
    prefix = "flannel.alpha.coreos.com/"
    internal_ip = next(
        a["address"] for a in obj["status"]["addresses"] if a["type"] == "InternalIP"
    )
    assert annotations[prefix + "backend-type"] == "vxlan"
    assert annotations[prefix + "kube-subnet-manager"] == "true"
    assert annotations[prefix + "public-ip"] == internal_ip == node["address"]
    backend_data = json.loads(annotations[prefix + "backend-data"])
    assert backend_data["VNI"] == net_conf["Backend"]["VNI"]

    subnet_env = flannel.parse_subnet_env(
        (Path(node["directory"]) / "flannel" / "subnet.env").read_text()
    )
    assert subnet_env["FLANNEL_NETWORK"] == net_conf["Network"]
    lease = ipaddress.ip_interface(subnet_env["FLANNEL_SUBNET"])
    assert lease.network == pod_cidr
    assert lease.ip == pod_cidr.network_address + 1

    vxlan = subprocess.run(
        ["ip", "-n", node["netns"], "-d", "link", "show", "flannel.1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"vxlan id {net_conf['Backend']['VNI']}" in vxlan
    assert backend_data["VtepMAC"] in vxlan


def test_cpu_burner_shows_in_metrics_and_hpa_scales_it(
    kubectl: Kubectl, namespace: str, real_nodes: list[dict[str, Any]]
) -> None:
    container = {
        "name": "main",
        "image": TESTBOX,
        "imagePullPolicy": "Never",
        "command": ["/bin/sh", "-c", "while :; do :; done"],
        # The limit keeps the burn to 0.15 core; usage is 300% of the request.
        "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "150m"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burner"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burner"}},
            "template": {
                "metadata": {"labels": {"app": "burner"}},
                "spec": _pod_spec(None, container, restart_policy="Always"),
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "burner"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "burner"},
            "minReplicas": 1,
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
    _apply(kubectl, namespace, deployment, hpa)

    def burner_millicores() -> int:
        raw = kubectl(
            "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods", check=False
        )
        if raw.returncode != 0:
            return 0
        usage = [
            container["usage"]["cpu"]
            for item in json.loads(raw.stdout)["items"]
            for container in item["containers"]
        ]
        return max((_millicores(value) for value in usage), default=0)

    wait_until(lambda: burner_millicores() > 0, timeout=90, what="burner CPU in metrics.k8s.io")

    def scaled() -> bool:
        status = _get(kubectl, "deployment", "burner", "-n", namespace)["status"]
        return int(status.get("replicas", 0)) == 2

    wait_until(scaled, timeout=150, what="the HPA to scale burner to 2 replicas")


def _millicores(quantity: str) -> int:
    if quantity.endswith("n"):
        return int(quantity[:-1]) // 1_000_000
    if quantity.endswith("u"):
        return int(quantity[:-1]) // 1_000
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return int(float(quantity) * 1000)


def _podpilot_dev() -> str:
    return str(Path(sys.executable).parent / "podpilot-dev")


def test_down_after_a_killed_up_leaves_nothing_behind(
    tmp_path: Path, real_nodes: list[dict[str, Any]]
) -> None:
    """A second, private cluster (own state dir, own names): killed while its real node starts."""
    directory = tmp_path / "killed-cluster"
    environment = {**os.environ, STATE_DIR_ENV: str(directory)}
    up_log = tmp_path / "up.log"
    state_file = directory / dev_cluster.STATE_FILE
    with up_log.open("w") as log:
        up = subprocess.Popen(
            [_podpilot_dev(), "cluster", "up", "--kwok-nodes", "1", "--real-nodes", "1"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def real_node_starting() -> bool:
        if up.poll() is not None:
            raise RuntimeError(f"up exited with {up.returncode}:\n{up_log.read_text()}")
        if not state_file.exists():
            return False
        started = json.loads(state_file.read_text())["processes"]
        return f"containerd-{realnodes.NODE_PREFIX}0" in started

    try:
        # Killed as soon as its real node's containerd runs: a half-started node.
        wait_until(
            real_node_starting,
            timeout=240,
            what="the private cluster's real node to start",
            interval=0.1,
        )
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
        ledger = realnodes.Ledger.load(directory)
        state = dev_cluster.ClusterState.load(directory)
        leftovers_after_kill = realnodes.leftovers(ledger)
        alive_after_kill = [
            name
            for name, proc in (state.processes if state else {}).items()
            if processes.is_alive(proc)
        ]
        down = subprocess.run(
            [_podpilot_dev(), "cluster", "down"], env=environment, capture_output=True, text=True
        )
    assert ledger is not None and state is not None
    assert leftovers_after_kill["netns"], "the killed up should have left a namespace to clean"
    assert f"containerd-{realnodes.NODE_PREFIX}0" in alive_after_kill, alive_after_kill
    assert down.returncode == 0, down.stderr

    assert realnodes.leftovers(ledger) == {
        "netns": [],
        "links": [],
        "mounts": [],
        "processes": [],
        "cgroups": [],
    }
    still_running = [name for name, proc in state.processes.items() if processes.is_alive(proc)]
    assert still_running == []
    assert not directory.exists()
