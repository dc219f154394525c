from typing import Any

from podpilot.flannel.engine.model_cache import ConfigMapRef, slim_node, slim_pod, snapshot
from podpilot.flannel.engine.selectors import parse_equality_selector

REF = ConfigMapRef(("kube-flannel", "kube-system"), "kube-flannel-cfg", "net-conf.json")


def _node(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": labels or {},
            "annotations": {
                "flannel.alpha.coreos.com/public-ip": "192.168.1.1",
                "example.com/x-backend-data": "null",
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd.sock",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "providerID": "kwok://x"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "NetworkUnavailable", "status": "False", "reason": "FlannelIsUp"},
            ],
            "allocatable": {"pods": "110", "cpu": "4"},
            "images": [{"names": ["big"]}],
        },
    }


def _pod(name: str, node: str | None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
        "spec": spec,
        "status": {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}]},
    }


def test_slim_node_keeps_only_what_the_model_reads() -> None:
    slim = slim_node(_node("a"))
    assert slim["metadata"]["annotations"] == {
        "flannel.alpha.coreos.com/public-ip": "192.168.1.1",
        "example.com/x-backend-data": "null",
    }
    assert slim["spec"] == {"podCIDR": "10.244.0.0/24"}
    assert [c["type"] for c in slim["status"]["conditions"]] == ["NetworkUnavailable"]
    assert slim["status"]["allocatable"] == {"pods": "110"}
    assert "images" not in slim["status"]


def test_unscheduled_pods_are_not_kept_and_flannel_pods_are_marked() -> None:
    selector = parse_equality_selector("app=flannel")
    assert slim_pod(_pod("p", None), selector) is None
    kept = slim_pod(_pod("f", "a", {"app": "flannel"}), selector)
    assert kept is not None and kept["flannel"] is True
    assert kept["spec"] == {"nodeName": "a", "hostNetwork": False}


def test_snapshot_keeps_selected_nodes_their_pods_and_the_first_config_map() -> None:
    selector = parse_equality_selector("pool=flannel")
    nodes = {
        "a": [slim_node(_node("a", {"pool": "flannel"}))],
        "b": [slim_node(_node("b"))],
    }
    flannel = parse_equality_selector("app=flannel")
    pods = {
        "a": [slim_pod(_pod("p1", "a"), flannel)],
        "b": [slim_pod(_pod("p2", "b"), flannel)],
    }
    config_maps = {
        ("kube-system", "kube-flannel-cfg"): [("old",)],
        ("kube-flannel", "kube-flannel-cfg"): [("new",)],
    }
    taken = snapshot(nodes, pods, config_maps, ref=REF, node_selector=selector)
    assert [n["metadata"]["name"] for n in taken.nodes] == ["a"]
    assert [p["metadata"]["name"] for p in taken.pods] == ["p1"]
    assert (taken.net_conf_text, taken.net_conf_source) == ("new", "kube-flannel/kube-flannel-cfg")
    # No flannel pod anywhere: presence is unknown, not "absent on every node".
    assert taken.flannel_pod_nodes is None


def test_snapshot_without_config_map_or_key() -> None:
    selector = parse_equality_selector("")
    nodes = {"a": [slim_node(_node("a"))]}
    empty = snapshot(nodes, {}, {}, ref=REF, node_selector=selector)
    assert (empty.net_conf_text, empty.net_conf_source) == (None, None)
    no_key = snapshot(
        nodes, {}, {("kube-system", "kube-flannel-cfg"): [(None,)]}, ref=REF, node_selector=selector
    )
    assert (no_key.net_conf_text, no_key.net_conf_source) == (None, "kube-system/kube-flannel-cfg")


def test_config_map_candidates() -> None:
    assert REF.wants("kube-system", "kube-flannel-cfg")
    assert not REF.wants("default", "kube-flannel-cfg")
    assert not REF.wants("kube-flannel", "other")


def test_heartbeat_timestamps_do_not_change_the_slim_node() -> None:
    before, after = _node("a"), _node("a")
    before["status"]["conditions"][1]["lastHeartbeatTime"] = "2026-01-01T00:00:00Z"
    after["status"]["conditions"][1]["lastHeartbeatTime"] = "2026-01-01T00:10:00Z"
    assert slim_node(before) == slim_node(after)
    assert slim_node(after)["status"]["conditions"] == [
        {"type": "NetworkUnavailable", "status": "False", "reason": "FlannelIsUp"}
    ]
