"""Loaders and builders for node, pod and ConfigMap fixtures in flannel's exact formats."""

import copy
import json
import pathlib
from typing import Any

import yaml

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
PREFIX = "flannel.alpha.coreos.com/"


def load_json(name: str) -> Any:
    """Load a JSON fixture (a fresh copy every call)."""
    return json.loads((FIXTURES / name).read_text())


def upstream_net_conf() -> str:
    """net-conf.json from the upstream kube-flannel-cfg ConfigMap."""
    config_map = yaml.safe_load((FIXTURES / "kube-flannel-cfg.yaml").read_text())
    return str(config_map["data"]["net-conf.json"])


def healthy_nodes() -> list[dict[str, Any]]:
    """Three vxlan nodes as flannel annotates them, podCIDRs from node IPAM."""
    return list(load_json("nodes-healthy.json")["items"])


def vxlan_node(
    name: str,
    pod_cidr: str | None,
    *,
    mac: str,
    public_ip: str,
    vni: int = 1,
) -> dict[str, Any]:
    """A node shaped exactly like the healthy fixture, with its own values."""
    node = copy.deepcopy(healthy_nodes()[1])
    node["metadata"]["name"] = name
    notes = node["metadata"]["annotations"]
    notes[PREFIX + "backend-data"] = json.dumps({"VNI": vni, "VtepMAC": mac}, separators=(",", ":"))
    notes[PREFIX + "public-ip"] = public_ip
    node["status"]["addresses"][0]["address"] = public_ip
    node["status"]["addresses"][1]["address"] = name
    if pod_cidr is None:
        node["spec"] = {}
    else:
        node["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return node


def pod(name: str, node: str, *ips: str, phase: str = "Running") -> dict[str, Any]:
    """A pod-network pod as the API returns it."""
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "podIP": ips[0] if ips else None,
            "podIPs": [{"ip": ip} for ip in ips],
        },
    }
