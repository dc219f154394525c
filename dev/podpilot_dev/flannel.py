"""flanneld on the real nodes: its ConfigMap, RBAC, command line, and the CNI config it feeds.

flanneld runs as a plain process in each node's network namespace with the Kubernetes subnet
manager and the vxlan backend. It reads ``net-conf.json`` from a file the dev cluster writes
from the ``kube-flannel-cfg`` ConfigMap (as the kubelet would from a volume), takes the node's
``spec.podCIDR`` as its lease, annotates the node and writes ``subnet.env``.

Pods get addresses through Debian's ``bridge`` + ``host-local`` plugins configured from
``subnet.env``: flannel's own CNI plugin (github.com/flannel-io/cni-plugin) is not served by the
reachable Go module proxy, and it does exactly this delegation itself.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAMESPACE = "kube-flannel"
CONFIGMAP = "kube-flannel-cfg"
NET_CONF_KEY = "net-conf.json"
USER = "podpilot:flannel"
CLUSTER_NETWORK = "10.245.0.0/16"  # apart from KWOK's 10.244.0.0/16 and the services' 10.96/16
SUBNET_LEN = 24
VXLAN_VNI = 1
VXLAN_PORT = 8472
CNI_NETWORK_NAME = "podpilot-flannel"
BRIDGE = "cni0"


def net_conf(network: str = CLUSTER_NETWORK) -> dict[str, Any]:
    return {
        "Network": network,
        "SubnetLen": SUBNET_LEN,
        "EnableIPv4": True,
        "Backend": {"Type": "vxlan", "VNI": VXLAN_VNI, "Port": VXLAN_PORT},
    }


def node_pod_cidr(index: int) -> str:
    """The podCIDR the dev cluster gives real node ``index`` (flannel takes it as its lease)."""
    return f"10.245.{index + 1}.0/{SUBNET_LEN}"


def manifests() -> list[dict[str, Any]]:
    """The namespace, ConfigMap and the RBAC flanneld's client certificate user needs."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "namespace": NAMESPACE, "labels": {"app": "flannel"}},
            "data": {NET_CONF_KEY: json.dumps(net_conf(), indent=2)},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "podpilot-dev-flannel"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "podpilot-dev-flannel"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "podpilot-dev-flannel",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
        },
    ]


def command(
    flanneld: str, kubeconfig: Path, net_conf_file: Path, subnet_file: Path, interface: str
) -> list[str]:
    return [
        flanneld,
        "--kube-subnet-mgr",
        f"--kubeconfig-file={kubeconfig}",
        f"--net-config-path={net_conf_file}",
        f"--subnet-file={subnet_file}",
        f"--iface={interface}",
        # Pod traffic never leaves the cluster's own namespaces, so nothing is masqueraded.
        "--ip-masq=false",
        "--healthz-port=0",
    ]


def parse_subnet_env(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def cni_conflist(subnet_env: Mapping[str, str], ipam_dir: Path) -> str:
    """What flannel's CNI plugin would delegate: a bridge on the node's lease, a route to the
    flannel network through it, and no default route (pods reach only other pods)."""
    gateway = ipaddress.ip_interface(subnet_env["FLANNEL_SUBNET"])  # e.g. 10.245.1.1/24
    document = bridge_conflist(
        name=CNI_NETWORK_NAME,
        subnet=str(gateway.network),
        gateway=str(gateway.ip),
        mtu=int(subnet_env["FLANNEL_MTU"]),
        network=subnet_env["FLANNEL_NETWORK"],
        ipam_dir=str(ipam_dir),
    )
    return json.dumps(document, indent=2) + "\n"


def bridge_conflist(
    *,
    name: str,
    subnet: str,
    gateway: str,
    mtu: int | str,
    network: str,
    ipam_dir: str | None = None,
    default_gateway: bool = False,
    port_mapping: bool = False,
) -> dict[str, Any]:
    """The conflist flannel's CNI plugin delegates to: Debian's bridge + host-local on the
    node's lease. ``default_gateway`` and ``port_mapping`` are what the plugin adds for a
    cluster whose pods also talk to Services and the outside (kind)."""
    ipam: dict[str, Any] = {"type": "host-local"}
    if ipam_dir is not None:
        ipam["dataDir"] = ipam_dir
    ipam["ranges"] = [[{"subnet": subnet, "gateway": gateway}]]
    ipam["routes"] = [{"dst": network}]
    bridge: dict[str, Any] = {
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": True,
        **({"isDefaultGateway": True} if default_gateway else {}),
        "ipMasq": False,
        "hairpinMode": True,
        "mtu": mtu,
        "ipam": ipam,
    }
    plugins: list[dict[str, Any]] = [bridge]
    if port_mapping:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    return {"cniVersion": "1.0.0", "name": name, "plugins": plugins}
