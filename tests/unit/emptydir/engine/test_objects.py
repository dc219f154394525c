"""Slim copies of pods and nodes for the in-memory model."""

import pytest

from podpilot.emptydir.engine.objects import has_emptydir, node_info, slim_pod

from ..helpers import GI, pod


def test_has_emptydir() -> None:
    assert has_emptydir(pod()["spec"])
    assert not has_emptydir({"volumes": [{"name": "c", "configMap": {"name": "x"}}]})
    assert not has_emptydir(None)


def test_slim_pod_keeps_what_the_audit_reads_and_drops_the_rest() -> None:
    body = pod(owner=("ReplicaSet", "web-1"), labels={"app": "web"})
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    body["spec"]["containers"][0]["env"] = [{"name": "SECRET", "value": "x"}]
    body["spec"]["initContainers"] = [{"name": "side", "restartPolicy": "Always", "image": "i"}]
    body["status"]["conditions"] = [{"type": "Ready"}]
    body["status"]["containerStatuses"] = [{"name": "app", "lastState": {}}]

    slim = slim_pod(body)

    assert slim["metadata"]["ownerReferences"][0]["name"] == "web-1"
    assert "managedFields" not in slim["metadata"]
    assert "env" not in slim["spec"]["containers"][0]
    assert (
        slim["spec"]["containers"][0]["volumeMounts"]
        == body["spec"]["containers"][0]["volumeMounts"]
    )
    assert slim["spec"]["initContainers"] == [{"name": "side", "restartPolicy": "Always"}]
    assert slim["spec"]["nodeName"] == "node-a"
    assert "conditions" not in slim["status"]
    assert slim["status"]["containerStatuses"] == [{"name": "app", "lastState": {}}]
    body["spec"]["volumes"].append({"name": "late", "emptyDir": {}})
    assert len(slim["spec"]["volumes"]) == 1  # a copy, not a view


def test_node_info_reads_allocatable_and_recognises_kwok() -> None:
    node = {
        "metadata": {
            "name": "kwok-node-0",
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/os": "linux"},
        },
        "status": {
            "allocatable": {"memory": "256Gi", "ephemeral-storage": "1.5Ki"},
            "capacity": {"memory": "not-a-quantity"},
            "nodeInfo": {"kubeletVersion": "v1.31.0"},
        },
    }
    info = node_info(node)
    assert info.kwok
    assert info.facts.name == "kwok-node-0"
    assert info.facts.allocatable_memory_bytes == 256 * GI
    assert info.facts.allocatable_ephemeral_bytes == 1536
    assert info.facts.capacity_memory_bytes is None
    assert info.facts.kubelet_version == "v1.31.0"
    assert info.facts.operating_system == "linux"


def test_a_real_node_without_allocatable_has_unknown_sizes() -> None:
    info = node_info({"metadata": {"name": "n"}, "status": {}})
    assert not info.kwok
    assert info.facts.allocatable_ephemeral_bytes is None
    assert info.facts.allocatable_memory_bytes is None


def test_the_kubelet_is_reached_at_the_first_internal_ip_and_the_advertised_port() -> None:
    status = {
        "addresses": [
            {"type": "Hostname", "address": "real-node-0"},
            {"type": "InternalIP", "address": "10.244.7.2"},
            {"type": "InternalIP", "address": "fd00::2"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}},
    }
    info = node_info({"metadata": {"name": "real-node-0"}, "status": status})
    assert (info.kubelet_address, info.kubelet_port) == ("10.244.7.2", 10350)


def test_a_node_without_internal_ip_or_port_has_no_address_and_the_default_port() -> None:
    status = {
        "addresses": [{"type": "ExternalIP", "address": "203.0.113.9"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
    }
    info = node_info({"metadata": {"name": "n"}, "status": status})
    assert (info.kubelet_address, info.kubelet_port) == (None, 10250)


@pytest.mark.parametrize(
    "written",
    ["10.96.0.1#", "kubernetes.default.svc/api/v1/nodes?", "evil.example.com?", "x@10.0.0.9",
     "fe80::1%eth0", "", " 10.0.0.7"],
)  # fmt: skip
def test_an_internal_ip_that_is_no_ip_address_is_never_dialled(written: str) -> None:
    """The API takes any text there: it would make the kubelet URL another host or path."""
    status = {
        "addresses": [
            {"type": "InternalIP", "address": written},
            {"type": "InternalIP", "address": "fd00:0:0::2"},
        ]
    }
    info = node_info({"metadata": {"name": "n"}, "status": status})
    assert info.kubelet_address == "fd00::2"
    alone = node_info({"metadata": {"name": "n"}, "status": {"addresses": status["addresses"][:1]}})
    assert alone.kubelet_address is None
