"""The flannel reporter against the dev cluster.

KWOK nodes of this module are annotated and CIDR-assigned the way flanneld and node IPAM would
do it, with a flannel ConfigMap in a namespace of the module's own. The module runs its own
operator (``--controllers flannel``) with a node selector and its own cluster report name, so
other tests' nodes and the shared operator cannot change what it sees. Each broken state must
show up as a finding in the report, an Event and a metric, and go away when fixed.
"""

from __future__ import annotations

import ipaddress
import json
import random
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until

from podpilot_dev import cluster as dev_cluster
from podpilot_dev import flannel as dev_flannel
from podpilot_dev import images, kubelet, realnodes

PREFIX = "flannel.alpha.coreos.com/"
TEST_LABEL = "podpilot.io/flannel-test"
EVENT_NAMESPACE = "default"
TIMEOUT = 60


@dataclass
class FlannelEnv:
    run: str
    octet: int
    namespace: str
    report_name: str
    nodes: list[str]
    operator: OperatorProcess
    kubectl: Kubectl

    def cidr(self, index: int) -> str:
        return f"10.{self.octet}.{index}.0/24"

    def network(self, prefix_len: int = 16) -> str:
        return f"10.{self.octet}.0.0/{prefix_len}"

    def mac(self, index: int) -> str:
        return f"0a:{self.octet:02x}:00:00:00:{index:02x}"

    def public_ip(self, index: int) -> str:
        return f"192.168.{self.octet}.{10 + index}"

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def report(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("flannelnetworkreport", self.report_name)
        return found

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(self.operator.metrics_url, timeout=5) as response:
            text = response.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, frozenset(labels.items())))


def _net_conf(network: str) -> str:
    return json.dumps({"Network": network, "Backend": {"Type": "vxlan"}})


def _config_map(env_namespace: str, network: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-flannel-cfg", "namespace": env_namespace},
            "data": {"net-conf.json": _net_conf(network)},
        }
    )


def _node(
    name: str,
    run: str,
    *,
    cidr: str | None,
    annotations: dict[str, str] | None,
) -> str:
    metadata_annotations = {"kwok.x-k8s.io/node": "fake", **(annotations or {})}
    spec: dict[str, Any] = {
        "taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
    }
    if cidr is not None:
        spec["podCIDR"] = cidr
        spec["podCIDRs"] = [cidr]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"type": "kwok", TEST_LABEL: run},
                "annotations": metadata_annotations,
            },
            "spec": spec,
        }
    )


def _flannel_annotations(mac: str, public_ip: str) -> dict[str, str]:
    return {
        PREFIX + "kube-subnet-manager": "true",
        PREFIX + "backend-type": "vxlan",
        PREFIX + "backend-data": json.dumps({"VNI": 1, "VtepMAC": mac}, separators=(",", ":")),
        PREFIX + "public-ip": public_ip,
    }


def _create_node(
    kubectl: Kubectl,
    name: str,
    run: str,
    *,
    cidr: str | None,
    annotations: dict[str, str] | None,
    address: str | None = None,
) -> None:
    kubectl("create", "-f", "-", input=_node(name, run, cidr=cidr, annotations=annotations))
    if address is not None:
        # The kubelet reports the address flannel picks as public-ip, and a usual max-pods (KWOK's
        # own "1M" would not fit a /24: FL016). Status is not kept on create.
        patch = {
            "status": {
                "addresses": [{"type": "InternalIP", "address": address}],
                "capacity": {"pods": "110"},
                "allocatable": {"pods": "110"},
            }
        }
        kubectl(
            "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
        )


def _start_operator(
    cluster: dev_cluster.ClusterState, log_dir: Path, *flags: str
) -> OperatorProcess:
    process = OperatorProcess(cluster, log_dir)
    process.command += [
        "--controllers=flannel",
        "--flannel-debounce=0.5",
        "--flannel-resync=5",
        "--flannel-pod-cidr-grace=0",
        *flags,
    ]
    process.start()
    return process


@pytest.fixture(scope="module")
def flannel_env(
    cluster: dev_cluster.ClusterState,
    crds_installed: None,
    kubectl: Kubectl,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FlannelEnv]:
    run = uuid.uuid4().hex[:5]
    octet = random.randint(100, 250)
    namespace = f"flt-{run}"
    nodes = [f"flt-{run}-{i}" for i in range(4)]
    kubectl("create", "namespace", namespace)
    kubectl("label", "namespace", namespace, "podpilot.io/e2e=true")
    operator: OperatorProcess | None = None
    try:
        kubectl("create", "-f", "-", input=_config_map(namespace, f"10.{octet}.0.0/16"))
        for index, name in enumerate(nodes):
            ip = f"192.168.{octet}.{10 + index}"
            _create_node(
                kubectl,
                name,
                run,
                cidr=f"10.{octet}.{index}.0/24",
                annotations=_flannel_annotations(f"0a:{octet:02x}:00:00:00:{index:02x}", ip),
                address=ip,
            )
        # A node flannel does not manage: no podCIDR, no annotations. It must not be flagged.
        _create_node(kubectl, f"flt-{run}-plain", run, cidr=None, annotations=None)
        operator = _start_operator(
            cluster,
            tmp_path_factory.mktemp("flannel-operator"),
            f"--flannel-node-selector={TEST_LABEL}={run}",
            f"--flannel-configmap-namespace={namespace}",
            f"--flannel-network-report-name=flt-{run}",
        )
        yield FlannelEnv(run, octet, namespace, f"flt-{run}", nodes, operator, kubectl)
    finally:
        if operator is not None:
            operator.stop()
        kubectl("delete", "node", "-l", f"{TEST_LABEL}={run}", "--wait=false", check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        kubectl("delete", "flannelnetworkreport", f"flt-{run}", check=False)
        kubectl(
            "delete",
            "flannelsubnetreport",
            *nodes,
            f"flt-{run}-plain",
            "--ignore-not-found",
            check=False,
        )


def _findings(report: dict[str, Any], finding_id: str, node: str | None) -> list[dict[str, Any]]:
    return [
        f
        for f in report.get("status", {}).get("findings", [])
        if f["id"] == finding_id and f.get("node") == node
    ]


def _events(env: FlannelEnv, involved: str, reason: str) -> list[dict[str, Any]]:
    listed: dict[str, Any] = env.get(
        "events",
        "-n",
        EVENT_NAMESPACE,
        "--field-selector",
        f"involvedObject.name={involved},reason={reason}",
    )
    items: list[dict[str, Any]] = listed["items"]
    return items


def _finding_metric(env: FlannelEnv, finding_id: str, node: str | None) -> float | None:
    if node is None:
        return sum(
            value
            for (name, labels), value in env.metrics().items()
            if name == "podpilot_flannel_findings" and ("finding", finding_id) in labels
        )
    return sum(
        value
        for (name, labels), value in env.metrics().items()
        if name == "podpilot_flannel_node_finding"
        and ("finding", finding_id) in labels
        and ("node", node) in labels
    )


def _raised_then_cleared(
    env: FlannelEnv,
    finding_id: str,
    reason: str,
    node: str | None,
    break_it: Callable[[], object],
    fix_it: Callable[[], object],
) -> dict[str, Any]:
    """Break, see the finding, its Event and metric; fix, see all three clear. Returns it."""
    involved = node or env.report_name

    def resolved() -> int:
        events = _events(env, involved, "FlannelFindingResolved")
        return sum(1 for e in events if e["message"].startswith(finding_id))

    resolved_before = resolved()
    break_it()
    found = wait_until(
        lambda: _findings(env.report(), finding_id, node),
        timeout=TIMEOUT,
        what=f"{finding_id} on {involved} in the cluster report",
    )
    wait_until(lambda: _events(env, involved, reason), timeout=TIMEOUT, what=f"Event {reason}")
    wait_until(
        lambda: _finding_metric(env, finding_id, node),
        timeout=TIMEOUT,
        what=f"metric for {finding_id}",
    )
    fix_it()
    wait_until(
        lambda: not _findings(env.report(), finding_id, node),
        timeout=TIMEOUT,
        what=f"{finding_id} on {involved} to clear",
    )
    wait_until(
        lambda: resolved() > resolved_before,
        timeout=TIMEOUT,
        what=f"a FlannelFindingResolved Event for {finding_id}",
    )
    assert not _finding_metric(env, finding_id, node)
    return found[0]


def _wait_healthy(env: FlannelEnv) -> dict[str, Any]:
    def healthy() -> dict[str, Any]:
        report = env.report()
        counts = report.get("status", {}).get("findingCounts", {})
        status: dict[str, Any] = report.get("status", {})
        if counts.get("critical") == 0 and counts.get("warning") == 0:
            return status
        return {}

    return wait_until(healthy, timeout=TIMEOUT, what="a healthy cluster report")


def test_healthy_cluster_has_no_findings_and_the_right_capacity(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    status = _wait_healthy(env)
    assert status["network"] == env.network()
    assert status["backend"] == "vxlan"
    assert (status["subnets"], status["allocated"], status["free"]) == (256, 4, 252)
    assert status["netConf"]["configMap"] == f"{env.namespace}/kube-flannel-cfg"
    assert status["nodes"] == {
        "total": 5,
        "managed": 4,
        "announced": 4,
        "withoutPodCIDR": 0,
        "ok": 4,
    }
    assert status["findings"] == []

    # Rows are checked for what any reporter sees the same way: the shared operator (all
    # nodes, no test ConfigMap) may have written these reports last. "OK" is nodes.ok above.
    for index, name in enumerate(env.nodes):
        row = env.get("flannelsubnetreport", name)["status"]
        assert row["podCIDR"] == env.cidr(index)
        assert row["publicIP"] == env.public_ip(index)
        assert row["vtepMAC"] == env.mac(index)
        assert row["ipsUsed"] == "0/253"
    plain = env.get("flannelsubnetreport", f"flt-{env.run}-plain")["status"]
    assert plain["state"] == "Unmanaged"
    assert plain["findings"] == []

    columns = env.kubectl("get", "flannelnetworkreport", env.report_name).stdout.split()
    assert env.network() in columns and "vxlan" in columns and "252" in columns
    assert env.metric("podpilot_flannel_network_subnets", family="ipv4", state="capacity") == 256
    assert env.metric("podpilot_flannel_nodes", state="OK") == 4
    assert env.metric("podpilot_flannel_nodes", state="Unmanaged") == 1
    assert env.metric("podpilot_flannel_netconf_valid") == 1


def test_overlapping_pod_cidr_is_reported_until_the_node_goes(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    intruder = f"flt-{env.run}-overlap"

    def add_intruder() -> None:
        _create_node(
            env.kubectl,
            intruder,
            env.run,
            cidr=env.cidr(0),
            annotations=_flannel_annotations(env.mac(9), env.public_ip(9)),
            address=env.public_ip(9),
        )

    found = _raised_then_cleared(
        env,
        "FL003",
        "FlannelOverlappingPodCIDRs",
        env.nodes[0],
        add_intruder,
        lambda: env.kubectl("delete", "node", intruder),
    )
    assert found["severity"] == "critical"
    wait_until(
        lambda: env.kubectl("get", "flannelsubnetreport", intruder, check=False).returncode != 0,
        timeout=TIMEOUT,
        what="the deleted node's report to be deleted",
    )


def _annotate(env: FlannelEnv, node: str, key: str, value: str) -> None:
    env.kubectl("annotate", "node", node, "--overwrite", f"{PREFIX}{key}={value}")


def _backend_data(mac: str) -> str:
    return json.dumps({"VNI": 1, "VtepMAC": mac}, separators=(",", ":"))


def test_duplicate_vtep_mac(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    node = env.nodes[1]
    found = _raised_then_cleared(
        env,
        "FL008",
        "FlannelDuplicateVtepMAC",
        node,
        lambda: _annotate(env, node, "backend-data", _backend_data(env.mac(0))),
        lambda: _annotate(env, node, "backend-data", _backend_data(env.mac(1))),
    )
    assert env.mac(0) in found["message"]


def test_malformed_backend_data(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    node = env.nodes[2]
    _raised_then_cleared(
        env,
        "FL007",
        "FlannelMalformedBackendData",
        node,
        lambda: _annotate(env, node, "backend-data", '{"VNI":1,"VtepMAC":'),
        lambda: _annotate(env, node, "backend-data", _backend_data(env.mac(2))),
    )


def test_node_without_pod_cidr(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    name = f"flt-{env.run}-nocidr"

    def create() -> None:
        _create_node(
            env.kubectl,
            name,
            env.run,
            cidr=None,
            annotations=_flannel_annotations(env.mac(8), env.public_ip(8)),
            address=env.public_ip(8),
        )

    def assign() -> None:
        # podCIDR may be set once, as node IPAM does when it finally finds a free subnet.
        patch = {"spec": {"podCIDR": env.cidr(8), "podCIDRs": [env.cidr(8)]}}
        env.kubectl("patch", "node", name, "--type=merge", "-p", json.dumps(patch))

    try:
        _raised_then_cleared(env, "FL001", "FlannelNodeNoPodCIDR", name, create, assign)
        row = env.get("flannelsubnetreport", name)["status"]
        assert row["podCIDR"] == env.cidr(8)
    finally:
        env.kubectl("delete", "node", name, "--ignore-not-found", check=False)


def _replace_net_conf(env: FlannelEnv, network: str) -> None:
    env.kubectl("apply", "-f", "-", input=_config_map(env.namespace, network))


def test_net_conf_deleted(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    _raised_then_cleared(
        env,
        "FL018",
        "FlannelNetConfUnavailable",
        None,
        lambda: env.kubectl("delete", "configmap", "kube-flannel-cfg", "-n", env.namespace),
        lambda: _replace_net_conf(env, env.network()),
    )
    assert env.metric("podpilot_flannel_netconf_valid") == 1


def test_subnets_nearly_exhausted(flannel_env: FlannelEnv) -> None:
    env = flannel_env
    _wait_healthy(env)
    found = _raised_then_cleared(
        env,
        "FL005",
        "FlannelClusterSubnetsExhausting",
        None,
        # A /22 holds four /24s, and the four nodes hold all of them.
        lambda: _replace_net_conf(env, env.network(22)),
        lambda: _replace_net_conf(env, env.network()),
    )
    assert found["severity"] == "critical"
    status = _wait_healthy(env)
    assert status["free"] == 252


def test_shared_kwok_nodes_are_unmanaged_and_never_flagged(
    operator: OperatorProcess, kubectl: Kubectl, cluster: dev_cluster.ClusterState
) -> None:
    # The shared operator runs every controller without a node selector.
    def status(name: str) -> dict[str, Any]:
        found = kubectl("get", "flannelsubnetreport", name, "-o", "json", check=False)
        row: dict[str, Any] = json.loads(found.stdout or "{}").get("status", {})
        return row

    for name in cluster.kwok_nodes:
        row = wait_until(partial(status, name), timeout=TIMEOUT, what=f"the report of {name}")
        assert row["state"] == "Unmanaged"
        assert row["findings"] == []


# Real nodes: rows must match what a real flanneld wrote.


@pytest.fixture(scope="module")
def real_nodes(cluster: dev_cluster.ClusterState) -> list[dict[str, Any]]:
    nodes = realnodes.describe(cluster.directory)
    if not nodes:
        pytest.skip(
            "the running dev cluster has no real nodes with flanneld (podpilot.io/dev-node=real); "
            "start it with 'podpilot-dev cluster up --real-nodes 2' to run this test"
        )
    return nodes


def _sleeper(name: str, node: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": [{**kubelet.TAINT, "operator": "Equal"}],
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": images.TESTBOX.reference,
                        "imagePullPolicy": "Never",
                        "command": ["/bin/sh", "-c", "sleep 3600"],
                    }
                ],
            },
        }
    )


def test_rows_match_what_real_flanneld_wrote(
    cluster: dev_cluster.ClusterState,
    crds_installed: None,
    kubectl: Kubectl,
    namespace: str,
    real_nodes: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # One pod of ours per node, so "pod IPs in use" is compared on a node that has some.
    for node in real_nodes:
        kubectl(
            "create", "-n", namespace, "-f", "-", input=_sleeper(f"ip-{node['name']}", node["name"])
        )
    for node in real_nodes:
        kubectl(
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            "--timeout=60s",
            f"pod/ip-{node['name']}",
        )
    report_name = f"flt-real-{uuid.uuid4().hex[:5]}"
    operator = _start_operator(
        cluster,
        tmp_path_factory.mktemp("flannel-real"),
        "--flannel-node-selector=podpilot.io/dev-node=real",
        f"--flannel-configmap-namespace={dev_flannel.NAMESPACE}",
        f"--flannel-network-report-name={report_name}",
    )
    try:
        _assert_real_rows(kubectl, report_name, real_nodes)
    finally:
        operator.stop()
        kubectl("delete", "flannelnetworkreport", report_name, check=False)
        names = [node["name"] for node in real_nodes]
        kubectl("delete", "flannelsubnetreport", *names, "--ignore-not-found", check=False)


def _assert_real_rows(kubectl: Kubectl, report_name: str, nodes: list[dict[str, Any]]) -> None:
    def get(*args: str) -> Any:
        return json.loads(kubectl("get", *args, "-o", "json").stdout)

    net_conf = json.loads(
        get("configmap", dev_flannel.CONFIGMAP, "-n", dev_flannel.NAMESPACE)["data"][
            dev_flannel.NET_CONF_KEY
        ]
    )
    cluster_report = wait_until(
        lambda: get("flannelnetworkreport", report_name).get("status"),
        timeout=TIMEOUT,
        what="the real nodes' cluster report",
    )
    assert cluster_report["network"] == net_conf["Network"]
    assert cluster_report["nodes"]["managed"] == len(nodes)
    for node in nodes:
        subnet_env = dev_flannel.parse_subnet_env(
            (Path(node["directory"]) / "flannel" / "subnet.env").read_text()
        )
        assert subnet_env["FLANNEL_NETWORK"] == cluster_report["network"]
        obj = get("node", node["name"])
        notes = obj["metadata"]["annotations"]
        lease = ipaddress.ip_interface(subnet_env["FLANNEL_SUBNET"]).network

        def row_matches(name: str = node["name"]) -> dict[str, Any]:
            row: dict[str, Any] = get("flannelsubnetreport", name)["status"]
            in_use = _pod_ips_in_use(get, name, ipaddress.ip_network(row["podCIDR"]))
            return row if row["ipv4"]["podIPsInUse"] == in_use else {}

        row = wait_until(row_matches, timeout=TIMEOUT, what=f"{node['name']}'s pod IPs in use")
        assert row["ipv4"]["podIPsInUse"] >= 1
        assert row["state"] == "OK", row["findings"]
        assert row["podCIDR"] == obj["spec"]["podCIDR"] == str(lease) == node["pod_cidr"]
        assert row["publicIP"] == notes[PREFIX + "public-ip"] == node["address"]
        assert row["backendType"] == notes[PREFIX + "backend-type"]
        backend_data = json.loads(notes[PREFIX + "backend-data"])
        assert row["vtepMAC"] == backend_data["VtepMAC"].lower()
        assert row["vni"] == backend_data["VNI"] == net_conf["Backend"].get("VNI", 1)


def _pod_ips_in_use(
    get: Callable[..., Any], node: str, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> int:
    pods = get("pods", "-A", "--field-selector", f"spec.nodeName={node}")["items"]
    return sum(
        1
        for pod in pods
        if not pod["spec"].get("hostNetwork")
        and pod["status"].get("phase") not in ("Succeeded", "Failed")
        and pod["status"].get("podIP")
        and ipaddress.ip_address(pod["status"]["podIP"]) in subnet
    )
