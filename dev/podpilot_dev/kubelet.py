"""A real kubelet's configuration and the Node object the dev cluster registers for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PORT = 10250
HEALTHZ_PORT = 10248
ROLE_LABEL = "podpilot.io/dev-node"
ROLE_VALUE = "real"
# Other tests' pods must keep landing on KWOK nodes; only pods that tolerate this run here.
TAINT: dict[str, str] = {"key": ROLE_LABEL, "value": ROLE_VALUE, "effect": "NoSchedule"}


@dataclass(frozen=True)
class KubeletLayout:
    directory: Path
    # Apart from the state directory: the kubelet makes unix sockets below its root directory,
    # and a socket path may have at most 107 bytes.
    root_dir: Path

    @property
    def config(self) -> Path:
        return self.directory / "config.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.directory / "pod-logs"


def configuration(
    *,
    node_ip: str,
    client_ca: Path,
    serving_cert: Path,
    serving_key: Path,
    runtime_socket: Path,
    cgroup_root: str,
    pod_cidr: str,
    pod_logs: Path,
) -> str:
    document: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": PORT,
        "readOnlyPort": 0,
        # Signed by the cluster CA for the node's address, so the emptyDir audit can verify it.
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "healthzBindAddress": node_ip,
        "healthzPort": HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "cgroupDriver": "cgroupfs",
        # Each node's pods live under a cgroup of its own, so two kubelets on one host never
        # fight over /kubepods. This machine has cgroup v1 only.
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "podCIDR": pod_cidr,
        "podLogsDir": str(pod_logs),
        "resolvConf": "",
        "clusterDomain": "cluster.local",
        "maxPods": 50,
        "registerNode": True,
        "registerWithTaints": [TAINT],
        "serializeImagePulls": False,
        # Imported images can never be pulled again: keep image GC off.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # The host disk is shared with everything else; only a real emptyDir overrun evicts.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "evictionPressureTransitionPeriod": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "housekeepingInterval": "5s",
        "volumeStatsAggPeriod": "5s",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "enforceNodeAllocatable": ["pods"],
    }
    return yaml.safe_dump(document, sort_keys=False)


def command(kubelet: str, layout: KubeletLayout, name: str, node_ip: str) -> list[str]:
    return [
        kubelet,
        f"--config={layout.config}",
        f"--kubeconfig={layout.kubeconfig}",
        f"--root-dir={layout.root_dir}",
        f"--cert-dir={layout.directory / 'pki'}",
        f"--hostname-override={name}",
        f"--node-ip={node_ip}",
        f"--node-labels={ROLE_LABEL}={ROLE_VALUE}",
        "--v=1",
    ]


def node_manifest(name: str, pod_cidr: str) -> dict[str, Any]:
    """Registered before the kubelet starts: the dev cluster, not a controller, hands out
    podCIDRs (kube-controller-manager does not allocate them, which keeps KWOK nodes as they
    are), and flanneld takes ``spec.podCIDR`` as its lease."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                ROLE_LABEL: ROLE_VALUE,
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": [TAINT]},
    }
