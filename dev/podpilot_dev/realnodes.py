"""Real kubelet nodes beside the KWOK nodes: bring-up and a crash-proof teardown.

Each node is a network namespace joined to a bridge on the host, with its own containerd
(+ runc), flanneld and kubelet as plain processes in that namespace, its own directories
under ``<state>/real-nodes/<name>/`` and its own cgroup root. Its containerd's sockets and
the kubelet's root directory (where the kubelet makes sockets of its own) live under short host
paths instead, ``/run/podpilot-dev/`` and ``/var/lib/podpilot-dev/``: a unix socket's path may
have at most 107 bytes, and the state directory may be long. Every namespace, link, cgroup and
directory is written to ``real-nodes.json`` *before* it is created, so ``down`` can remove all
of it after any crash, and can be repeated.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podpilot_dev import containerd, flannel, hostcleanup, images, kubelet, manifests, netns
from podpilot_dev import pki as dev_pki
from podpilot_dev.processes import HealthCheck

if TYPE_CHECKING:
    from podpilot_dev.cluster import Bringup

LEDGER_FILE = "real-nodes.json"
RELAY_PORT = 6443
SOCKET_ROOT = Path("/run/podpilot-dev")
KUBELET_ROOT = Path("/var/lib/podpilot-dev")  # on disk, as /var/lib/kubelet is
NODE_PREFIX = "real-node-"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Reporter = Callable[[str], None]


class RealNodeError(RuntimeError):
    """A real node could not be started; the message says which step and why."""


@dataclass
class NodeRecord:
    name: str
    index: int
    address: str
    netns: str
    host_link: str
    directory: str
    cgroup: str
    pod_cidr: str
    socket_directory: str = ""
    kubelet_root: str = ""

    def containerd_layout(self) -> containerd.ContainerdLayout:
        return containerd.ContainerdLayout(
            Path(self.directory) / "containerd", Path(self.socket_directory)
        )

    def kubelet_layout(self) -> kubelet.KubeletLayout:
        return kubelet.KubeletLayout(Path(self.directory) / "kubelet", Path(self.kubelet_root))


@dataclass
class Ledger:
    """What this dev cluster created on the host for its real nodes."""

    path: Path
    cluster_id: str = ""
    subnet: str = ""
    bridge: str = ""
    nodes: list[NodeRecord] = field(default_factory=list)

    @property
    def network(self) -> netns.HostNetwork:
        return netns.HostNetwork(self.cluster_id, self.subnet)

    @property
    def cgroup_prefix(self) -> str:
        return f"podpilot-{self.cluster_id}-"

    def save(self) -> None:
        data = {
            "cluster_id": self.cluster_id,
            "subnet": self.subnet,
            "bridge": self.bridge,
            "nodes": [asdict(node) for node in self.nodes],
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        temporary.replace(self.path)

    @classmethod
    def load(cls, directory: Path) -> Ledger | None:
        path = directory / LEDGER_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            path,
            data["cluster_id"],
            data["subnet"],
            data["bridge"],
            [NodeRecord(**node) for node in data["nodes"]],
        )


def plan_network(state_directory: Path) -> netns.HostNetwork:
    """Choose (and record) the bridge subnet before the PKI is written: the apiserver's
    certificate has to name the gateway address the nodes dial."""
    network = netns.plan(state_directory)
    Ledger(state_directory / LEDGER_FILE, network.cluster_id, network.subnet).save()
    return network


def node_names(count: int) -> list[str]:
    return [f"{NODE_PREFIX}{index}" for index in range(count)]


def _kubeconfig(steps: Bringup, gateway: str, cert_name: str) -> str:
    tls = steps.state.pki
    return manifests.kubeconfig(
        f"https://{gateway}:{RELAY_PORT}",
        tls.ca_cert,
        tls.cert(cert_name),
        tls.key(cert_name),
        user=cert_name,
    )


def _wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise RealNodeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": SYSTEM_PATH, **extra}


def node_record(ledger: Ledger, root: Path, index: int, name: str) -> NodeRecord:
    """Where node ``index`` lives: names, addresses, cgroup and directories."""
    network = ledger.network
    return NodeRecord(
        name=name,
        index=index,
        address=network.node_address(index),
        netns=network.netns(name),
        host_link=network.host_link(index),
        directory=str(root / name),
        cgroup=f"{ledger.cgroup_prefix}{name}",
        pod_cidr=flannel.node_pod_cidr(index),
        socket_directory=str(SOCKET_ROOT / f"{ledger.cluster_id}-{index}"),
        kubelet_root=str(KUBELET_ROOT / f"{ledger.cluster_id}-{index}"),
    )


class RealNodes:
    """Starts N real nodes on a control plane that ``Bringup`` has already started."""

    def __init__(self, steps: Bringup, ledger: Ledger) -> None:
        self.steps = steps
        self.ledger = ledger
        self.network = ledger.network
        self.root = steps.state.directory / "real-nodes"

    def start(self, count: int) -> None:
        started = time.monotonic()
        self.ledger.bridge = self.network.bridge
        self.ledger.save()
        netns.create_bridge(self.network)
        self.relay()
        self.steps.apply(flannel.manifests())
        dev_pki.issue_client(self.steps.state.pki, "flannel", flannel.USER)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "flannel.kubeconfig").write_text(
            _kubeconfig(self.steps, self.network.gateway, "flannel")
        )
        self.write_net_conf()
        archives = images.write_archives(self.root / "images")
        for index, name in enumerate(node_names(count)):
            self.start_node(index, name, archives)
        self.steps.kubectl(
            "wait",
            "--for=condition=Ready",
            "--timeout=120s",
            *[f"node/{name}" for name in node_names(count)],
        )
        self.steps.report(f"{count} real nodes Ready in {time.monotonic() - started:.0f}s")

    def relay(self) -> None:
        gateway = self.network.gateway
        self.steps.launch(
            "apiserver-relay",
            [
                sys.executable,
                "-m",
                "podpilot_dev.relay",
                f"--listen={gateway}:{RELAY_PORT}",
                f"--target=127.0.0.1:{self.steps.state.ports['kube-apiserver']}",
            ],
            self.steps.admin_health(f"https://{gateway}:{RELAY_PORT}/readyz"),
        )

    def write_net_conf(self) -> None:
        """net-conf.json as flanneld would see it mounted from the kube-flannel-cfg ConfigMap."""
        data = self.steps.kubectl(
            "get",
            "configmap",
            flannel.CONFIGMAP,
            "-n",
            flannel.NAMESPACE,
            "-o",
            "jsonpath={.data.net-conf\\.json}",
        )
        (self.root / flannel.NET_CONF_KEY).write_text(data)

    def start_node(self, index: int, name: str, archives: list[Path]) -> None:
        record = node_record(self.ledger, self.root, index, name)
        directory = Path(record.directory)
        self.ledger.nodes.append(record)
        self.ledger.save()
        directory.mkdir(parents=True, exist_ok=True)
        Path(record.socket_directory).mkdir(parents=True, exist_ok=True)
        netns.create_node_netns(self.network, record.netns, record.host_link, record.address)
        hostcleanup.create_cgroup(record.cgroup)
        runtime = record.containerd_layout()
        self.start_containerd(record, runtime, archives)
        self.steps.apply([kubelet.node_manifest(name, record.pod_cidr)])
        self.start_flanneld(record, runtime)
        self.start_kubelet(record, runtime)

    def start_containerd(
        self, record: NodeRecord, runtime: containerd.ContainerdLayout, archives: list[Path]
    ) -> None:
        runtime.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        runtime.config.write_text(containerd.configuration(runtime, images.PAUSE.reference))
        self.steps.launch(
            f"containerd-{record.name}",
            netns.in_netns(record.netns, containerd.command(runtime)),
            None,
            environment=_environment(),
        )
        _wait_for(
            lambda: (
                subprocess.run(
                    ["ctr", f"--address={runtime.socket}", "version"], capture_output=True
                ).returncode
                == 0
            ),
            f"containerd of {record.name} to answer on {runtime.socket}",
            timeout=60,
        )
        containerd.import_images(runtime, archives)

    def start_flanneld(self, record: NodeRecord, runtime: containerd.ContainerdLayout) -> None:
        subnet_file = Path(record.directory) / "flannel" / "subnet.env"
        subnet_file.parent.mkdir(parents=True, exist_ok=True)
        self.steps.launch(
            f"flanneld-{record.name}",
            netns.in_netns(
                record.netns,
                flannel.command(
                    self.steps.binary("flanneld"),
                    self.root / "flannel.kubeconfig",
                    self.root / flannel.NET_CONF_KEY,
                    subnet_file,
                    netns.NODE_INTERFACE,
                ),
            ),
            None,
            environment=_environment(NODE_NAME=record.name),
        )
        _wait_for(subnet_file.exists, f"flanneld to write {subnet_file}", timeout=60)
        subnet_env = flannel.parse_subnet_env(subnet_file.read_text())
        (runtime.cni_conf_dir / "10-podpilot-flannel.conflist").write_text(
            flannel.cni_conflist(subnet_env, Path(record.directory) / "cni-ipam")
        )

    def start_kubelet(self, record: NodeRecord, runtime: containerd.ContainerdLayout) -> None:
        tls = self.steps.state.pki
        layout = record.kubelet_layout()
        layout.root_dir.mkdir(parents=True, exist_ok=True)
        layout.pod_logs.mkdir(parents=True, exist_ok=True)
        cert_name = f"kubelet-{record.name}"
        dev_pki.issue_client(tls, cert_name, f"system:node:{record.name}", ["system:nodes"])
        serving_name = f"kubelet-serving-{record.name}"
        dev_pki.issue_kubelet_serving(tls, serving_name, record.name, record.address)
        layout.kubeconfig.write_text(_kubeconfig(self.steps, self.network.gateway, cert_name))
        layout.config.write_text(
            kubelet.configuration(
                node_ip=record.address,
                client_ca=tls.ca_cert,
                serving_cert=tls.cert(serving_name),
                serving_key=tls.key(serving_name),
                runtime_socket=runtime.socket,
                cgroup_root=f"/{record.cgroup}",
                pod_cidr=record.pod_cidr,
                pod_logs=layout.pod_logs,
            )
        )
        self.steps.launch(
            f"kubelet-{record.name}",
            netns.in_netns(
                record.netns,
                kubelet.command(self.steps.binary("kubelet"), layout, record.name, record.address),
            ),
            HealthCheck(f"http://{record.address}:{kubelet.HEALTHZ_PORT}/healthz"),
            environment=_environment(),
        )


def start(steps: Bringup, count: int) -> None:
    ledger = Ledger.load(steps.state.directory)
    if ledger is None:
        raise RealNodeError("plan_network() must run before the PKI is written")
    RealNodes(steps, ledger).start(count)


def real_node_names(state_directory: Path) -> list[str]:
    ledger = Ledger.load(state_directory)
    return [node.name for node in ledger.nodes] if ledger else []


def leftovers(ledger: Ledger | None) -> dict[str, list[str]]:
    """What of the ledger still exists on the host (empty lists after a clean ``down``)."""
    if ledger is None or not ledger.cluster_id:
        return {"netns": [], "links": [], "mounts": [], "processes": [], "cgroups": []}
    directories = _node_paths(ledger)
    links = [ledger.bridge, *[node.host_link for node in ledger.nodes]]
    cgroups = [path for node in ledger.nodes for path in hostcleanup.cgroup_dirs(node.cgroup)]
    return {
        "netns": [node.netns for node in ledger.nodes if netns.netns_exists(node.netns)],
        "links": [link for link in links if link and netns.link_exists(link)],
        "mounts": hostcleanup.mounts_under(directories),
        "processes": [
            str(pid)
            for pid in hostcleanup.processes_using(
                [str(d) for d in directories], ledger.cgroup_prefix
            )
        ],
        "cgroups": [str(path) for path in cgroups if path.exists()],
    }


def _node_paths(ledger: Ledger) -> list[Path]:
    """Every directory a node owns: its state, socket and kubelet root directories."""
    paths = [
        path
        for node in ledger.nodes
        for path in (node.directory, node.socket_directory, node.kubelet_root)
    ]
    return [Path(path) for path in paths if path]


def teardown(state_directory: Path, report: Reporter) -> None:
    """Remove every process, mount, namespace, link and cgroup the ledger names; idempotent."""
    ledger = Ledger.load(state_directory)
    if ledger is None or not ledger.cluster_id:
        return
    directories = _node_paths(ledger)
    stray = hostcleanup.processes_using([str(d) for d in directories], ledger.cgroup_prefix)
    if stray:
        report(f"stopping {len(stray)} leftover real-node processes (shims, containers)")
        hostcleanup.kill_all(stray)
    stuck = hostcleanup.unmount_all(directories)
    if stuck:
        report(f"could not unmount: {stuck}")
    for node in ledger.nodes:
        netns.delete_netns(node.netns)
        netns.delete_link(node.host_link)
        for path in hostcleanup.cgroup_dirs(node.cgroup):
            if not hostcleanup.remove_cgroup_tree(path):
                report(f"could not remove cgroup {path}")
    if ledger.bridge:
        netns.delete_link(ledger.bridge)
    _remove_container_log_links(directories)
    for node in ledger.nodes:
        for directory in (node.socket_directory, node.kubelet_root):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)
    report(f"removed {len(ledger.nodes)} real nodes' namespaces, links, mounts and cgroups")


def _remove_container_log_links(directories: list[Path]) -> None:
    """The kubelet links /var/log/containers/*.log to pod logs; drop links into our dirs."""
    links = Path("/var/log/containers")
    if not links.is_dir():
        return
    prefixes = [str(directory) for directory in directories]
    for link in links.iterdir():
        try:  # the kubelets of other dev clusters remove their own links meanwhile
            target = os.readlink(link)
        except OSError:
            continue
        if any(target.startswith(p) for p in prefixes):
            link.unlink(missing_ok=True)


def describe(state_directory: Path) -> list[dict[str, Any]]:
    ledger = Ledger.load(state_directory)
    return [asdict(node) for node in ledger.nodes] if ledger else []


ERRORS: tuple[type[Exception], ...] = (
    RealNodeError,
    netns.NetworkError,
    containerd.ContainerdError,
    images.ImageError,
)
