"""The real nodes' network: one bridge on the host, one network namespace per node.

The bridge carries a /24 the dev cluster picks (it never overlaps a route the host has) and
has no route beyond it; each node namespace is joined to the bridge by a veth pair and gets
only that /24, so nothing in a node can reach anything but the other nodes and the gateway.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")
BRIDGE_RANGE = ipaddress.IPv4Network("172.30.0.0/16")
NODE_INTERFACE = "eth0"
IP_TIMEOUT = 30.0
"""An ``ip`` call is a netlink round trip; one that takes this long is stuck, not slow."""


class NetworkError(RuntimeError):
    """An ``ip`` command failed; the message carries its error."""


@dataclass(frozen=True)
class HostNetwork:
    """Names and addresses of one dev cluster's node network."""

    cluster_id: str
    subnet: str

    @property
    def bridge(self) -> str:
        return f"ppd{self.cluster_id}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def prefix_length(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def node_address(self, index: int) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 10 + index)

    def netns(self, node: str) -> str:
        return f"podpilot-{self.cluster_id}-{node}"

    def host_link(self, index: int) -> str:
        return f"ppd{self.cluster_id}n{index}"


def cluster_id(state_directory: Path) -> str:
    """Short and stable per state directory, so two dev clusters never share a name."""
    return hashlib.sha256(str(state_directory.resolve()).encode()).hexdigest()[:5]


def _host_routes() -> list[ipaddress.IPv4Network]:
    output = run(["ip", "-4", "-o", "route", "show", "table", "all"])
    networks: list[ipaddress.IPv4Network] = []
    for line in output.splitlines():
        target = line.split()[0]
        if target in ("default", "broadcast", "local", "unreachable", "multicast"):
            target = line.split()[1] if len(line.split()) > 1 else ""
        try:
            networks.append(ipaddress.IPv4Network(target, strict=False))
        except ValueError:
            continue
    return [n for n in networks if n.prefixlen > 0]


def plan(state_directory: Path) -> HostNetwork:
    """Pick a /24 in 172.30.0.0/16 that no host route touches."""
    identity = cluster_id(state_directory)
    taken = _host_routes()
    subnets = list(BRIDGE_RANGE.subnets(new_prefix=24))
    start = int(identity, 16) % len(subnets)
    for offset in range(len(subnets)):
        candidate = subnets[(start + offset) % len(subnets)]
        if not any(candidate.overlaps(route) for route in taken):
            return HostNetwork(identity, str(candidate))
    raise NetworkError(f"every /24 of {BRIDGE_RANGE} overlaps a host route")


def _ip(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=IP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{' '.join(command)} did not finish in {IP_TIMEOUT:g} s") from None


def run(command: list[str]) -> str:
    result = _ip(command)
    if result.returncode != 0:
        raise NetworkError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def in_netns(netns: str, command: list[str]) -> list[str]:
    """Run ``command`` in the node's network namespace only (mounts stay shared with the host).

    ``ip netns exec`` would also give it a mount namespace of its own, which would hide the
    kubelet's volume mounts from containerd and from ``down``.
    """
    return ["nsenter", f"--net={NETNS_DIR / netns}", "--", *command]


def link_exists(name: str) -> bool:
    return _ip(["ip", "link", "show", name]).returncode == 0


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create_bridge(network: HostNetwork) -> None:
    run(["ip", "link", "add", network.bridge, "type", "bridge"])
    run(["ip", "addr", "add", f"{network.gateway}/{network.prefix_length}", "dev", network.bridge])
    run(["ip", "link", "set", network.bridge, "up"])


def create_node_netns(network: HostNetwork, netns: str, host_link: str, address: str) -> None:
    """A namespace whose eth0 is a veth into the bridge, with ``address`` and no default route."""
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", f"{host_link}p"])
    run(["ip", "link", "set", host_link, "master", network.bridge, "up"])
    run(["ip", "link", "set", f"{host_link}p", "netns", netns])
    inside = ["ip", "-n", netns]
    run([*inside, "link", "set", f"{host_link}p", "name", NODE_INTERFACE])
    run([*inside, "addr", "add", f"{address}/{network.prefix_length}", "dev", NODE_INTERFACE])
    run([*inside, "link", "set", NODE_INTERFACE, "up"])
    run([*inside, "link", "set", "lo", "up"])
    # Pods are routed through the node, as on any Kubernetes node.
    run(in_netns(netns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]))


def delete_netns(name: str) -> None:
    if netns_exists(name):
        run(["ip", "netns", "delete", name])


def delete_link(name: str) -> None:
    """Delete a host link; one that is gone, or goes while it is being deleted, is no failure:
    a veth goes with its peer once the kernel tears down the peer's namespace, in its own time
    after ``ip netns delete``."""
    result = _ip(["ip", "link", "delete", name])
    if result.returncode != 0 and link_exists(name):
        raise NetworkError(f"ip link delete {name} failed: {result.stderr.strip()}")
