"""Journey 5: the flannel reporter on kind's real flannel network.

Each node's FlannelSubnetReport must carry what flanneld really set up on that node: the
subnet in its ``/run/flannel/subnet.env``, the MAC of its ``flannel.1`` VTEP and the address
of its ``eth0``, read inside the node container. Then a conflict is injected the way a broken
node would make it (one node's VtepMAC annotation set to another's) and must be reported, and
then cleared once the annotation is back.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev.kind import cluster, podman, stack
from podpilot_dev.kind.addons import flannel

BACKEND_DATA = "flannel.alpha.coreos.com/backend-data"
DUPLICATE_VTEP_MAC = "FL008"
TIMEOUT = 90


@dataclass(frozen=True)
class FlannelOnNode:
    """What flanneld set up on one node, read from the node itself."""

    subnet: str
    vtep_mac: str
    public_ip: str


def _exec(node: str, *command: str) -> str:
    return podman.run(["exec", node, *command], timeout=30).stdout


def flannel_on(node: str) -> FlannelOnNode:
    env = dict(line.split("=", 1) for line in _exec(node, "cat", "/run/flannel/subnet.env").split())
    link = _exec(node, "ip", "-o", "link", "show", "flannel.1")
    address = _exec(node, "ip", "-o", "-4", "addr", "show", "eth0")
    mac = re.search(r"link/ether ([0-9a-f:]{17})", link)
    inet = re.search(r"inet ([0-9.]+)/", address)
    assert mac and inet, (link, address)
    subnet = ipaddress.ip_interface(env["FLANNEL_SUBNET"]).network
    return FlannelOnNode(str(subnet), mac.group(1), inet.group(1))


def test_each_node_report_matches_what_flannel_set_up_on_the_node(
    kind: object, kubectl_json: Callable[..., Any]
) -> None:
    nodes = cluster.node_containers()
    assert len(nodes) == 3, nodes
    for node in nodes:
        real = flannel_on(node)
        report = wait_until(
            lambda node=node: kubectl_json("get", "flannelsubnetreport", node).get("status"),
            timeout=TIMEOUT,
            what=f"the FlannelSubnetReport of {node}",
        )
        assert report["podCIDR"] == real.subnet, (node, report, real)
        assert report["vtepMAC"] == real.vtep_mac, (node, report, real)
        assert report["publicIP"] == real.public_ip, (node, report, real)
        assert report["backendType"] == "vxlan" and report["state"] == "OK", report
    network = kubectl_json("get", "flannelnetworkreport", "cluster")["status"]
    assert network["network"] == "10.244.0.0/16"
    assert network["nodes"] == {
        "total": 3, "managed": 3, "announced": 3, "ok": 3, "withoutPodCIDR": 0
    }  # fmt: skip
    assert network["findingCounts"]["critical"] == 0, network["findings"]


def restart_flanneld(kubectl: Kubectl) -> None:
    """The duplicated VtepMAC really misdirects peers' VXLAN forwarding entries (the peers
    re-pointed the other node's MAC, and dropped it when the lease changed back), as it would
    on a production cluster; the fix the finding's remedy names, a restart of flanneld, makes
    each flanneld write every peer's entry again. The metrics APIs come back with the network."""
    selector = ",".join(f"{key}={value}" for key, value in flannel.LABELS.items())
    kubectl("delete", "pods", "-n", flannel.NAMESPACE, "-l", selector, "--wait=true")
    kubectl("rollout", "status", f"daemonset/{flannel.DAEMONSET}", "-n", flannel.NAMESPACE,
            "--timeout=120s")  # fmt: skip
    kubectl("wait", "--for=condition=Available", *stack.METRICS_APIS, "--timeout=120s")


@pytest.fixture
def restored_annotation(kubectl: Kubectl, kubectl_json: Callable[..., Any]) -> Iterator[str]:
    """The node whose backend-data the test changes, with the original put back and the data
    plane repaired afterwards."""
    node = "podpilot-worker2"
    original = kubectl_json("get", "node", node)["metadata"]["annotations"][BACKEND_DATA]
    try:
        yield node
    finally:
        kubectl("annotate", "node", node, "--overwrite", f"{BACKEND_DATA}={original}")
        restart_flanneld(kubectl)


def _findings(kubectl_json: Callable[..., Any], node: str) -> set[str]:
    status = kubectl_json("get", "flannelsubnetreport", node).get("status", {})
    return {finding["id"] for finding in status.get("findings", [])}


def test_a_duplicated_vtep_mac_is_found_and_then_resolved(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], restored_annotation: str
) -> None:
    victim = restored_annotation
    other = "podpilot-worker"
    original = kubectl_json("get", "node", victim)["metadata"]["annotations"][BACKEND_DATA]
    stolen = json.loads(kubectl_json("get", "node", other)["metadata"]["annotations"][BACKEND_DATA])
    kubectl("annotate", "node", victim, "--overwrite", f"{BACKEND_DATA}={json.dumps(stolen)}")

    wait_until(
        lambda: (
            DUPLICATE_VTEP_MAC in _findings(kubectl_json, victim)
            and DUPLICATE_VTEP_MAC in _findings(kubectl_json, other)
        ),
        timeout=TIMEOUT,
        what=f"{DUPLICATE_VTEP_MAC} on {victim} and {other}",
    )
    network = kubectl_json("get", "flannelnetworkreport", "cluster")["status"]
    assert network["findingCounts"]["critical"] >= 1, network
    assert network["worstSeverity"] == "critical", network

    kubectl("annotate", "node", victim, "--overwrite", f"{BACKEND_DATA}={original}")
    wait_until(
        lambda: not _findings(kubectl_json, victim) and not _findings(kubectl_json, other),
        timeout=TIMEOUT,
        what="the duplicate VtepMAC findings cleared",
    )
    network = kubectl_json("get", "flannelnetworkreport", "cluster")["status"]
    assert network["findingCounts"]["critical"] == 0, network
