"""Cluster-wide subnet capacity: how many node subnets the Network holds, and how many are taken.

Capacity counts node-mask-sized slots of the Network. In kube mode every slot is allocatable
(kube-controller-manager's node IPAM does not skip the first subnet, and flannel ignores
``SubnetMin``/``SubnetMax`` there). In etcd mode flannel's own allocator skips the first slot by
default and honours ``SubnetMin``/``SubnetMax``, so capacity is
``(SubnetMax - SubnetMin) / 2^(bits - SubnetLen) + 1``. All arithmetic is on Python integers,
exact for IPv6.
"""

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

IPNetwork = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address
KCM_DEFAULT_NODE_MASK = {4: 24, 6: 64}


class SubnetManager(enum.Enum):
    """Which flannel subnet manager hands out node subnets."""

    KUBE = "kube"
    ETCD = "etcd"


@dataclass(frozen=True)
class FamilyCapacity:
    """Subnet capacity of one address family.

    Attributes:
        network: The cluster Network.
        inferred: True when the Network was inferred from podCIDRs (net-conf unusable).
        node_prefix_len: The node subnet mask length used for counting.
        subnets: Slots available to nodes.
        allocated: Slots covered by at least one node's podCIDR.
    """

    network: IPNetwork
    inferred: bool
    node_prefix_len: int
    subnets: int
    allocated: int

    @property
    def free(self) -> int:
        """Slots still available."""
        return max(0, self.subnets - self.allocated)

    @property
    def utilization(self) -> float:
        """Allocated share of the slots (1.0 when there are none)."""
        return min(1.0, self.allocated / self.subnets) if self.subnets else 1.0


def infer_network(cidrs: Iterable[IPNetwork]) -> IPNetwork | None:
    """The smallest single prefix covering all given CIDRs of one family, or None if empty."""
    items = list(cidrs)
    if not items:
        return None
    first = min(int(c.network_address) for c in items)
    last = max(int(c.broadcast_address) for c in items)
    bits = items[0].max_prefixlen
    prefix_len = bits - (first ^ last).bit_length()
    address = IPv4Address(first) if bits == 32 else IPv6Address(first)
    return ip_network((address, prefix_len), strict=False)


def dominant_prefix_len(cidrs: Iterable[IPNetwork], network: IPNetwork) -> int | None:
    """The most common mask length among CIDRs strictly inside the Network (ties: the longest)."""
    lengths = Counter(
        c.prefixlen
        for c in cidrs
        if c.version == network.version
        and c.subnet_of(network)  # type: ignore[arg-type]
        and c.prefixlen > network.prefixlen
    )
    if not lengths:
        return None
    return max(lengths, key=lambda length: (lengths[length], length))


def node_prefix_len_for(
    network: IPNetwork,
    cidrs: Iterable[IPNetwork],
    *,
    override: int | None = None,
    subnet_len: int | None = None,
) -> int:
    """Pick the node mask: the override (kube-controller-manager flag), else the dominant mask
    among nodes, else net-conf SubnetLen, else kube-controller-manager's default (/24, /64)."""
    for candidate in (override, dominant_prefix_len(cidrs, network), subnet_len):
        if candidate is not None:
            return candidate
    return max(KCM_DEFAULT_NODE_MASK[network.version], network.prefixlen)


def family_capacity(
    network: IPNetwork,
    cidrs: Iterable[IPNetwork],
    *,
    node_prefix_len: int,
    inferred: bool = False,
    manager: SubnetManager = SubnetManager.KUBE,
    subnet_min: IPAddress | None = None,
    subnet_max: IPAddress | None = None,
) -> FamilyCapacity:
    """Count the Network's node subnets and how many are allocated.

    Args:
        network: The cluster Network of one family.
        cidrs: All nodes' podCIDRs of that family (those outside the Network are ignored).
        node_prefix_len: The node mask length.
        inferred: Whether ``network`` was inferred.
        manager: Kube mode counts every slot; etcd mode applies flannel's SubnetMin/SubnetMax.
        subnet_min: ``SubnetMin`` (etcd mode only).
        subnet_max: ``SubnetMax`` (etcd mode only).

    Returns:
        The capacity; a node mask shorter than the Network's yields zero subnets.
    """
    if node_prefix_len < network.prefixlen or node_prefix_len > network.max_prefixlen:
        return FamilyCapacity(network, inferred, node_prefix_len, 0, 0)
    shift = network.max_prefixlen - node_prefix_len
    base = int(network.network_address)
    low, high = 0, (1 << (node_prefix_len - network.prefixlen)) - 1
    if manager is SubnetManager.ETCD:
        low = 1 if subnet_min is None else (int(subnet_min) - base) >> shift
        if subnet_max is not None:
            high = (int(subnet_max) - base) >> shift
    if high < low:
        return FamilyCapacity(network, inferred, node_prefix_len, 0, 0)
    slots: list[tuple[int, int]] = []
    for cidr in cidrs:
        if cidr.version != network.version or not _inside(cidr, network):
            continue
        first = max(low, (int(cidr.network_address) - base) >> shift)
        last = min(high, (int(cidr.broadcast_address) - base) >> shift)
        if first <= last:
            slots.append((first, last))
    return FamilyCapacity(network, inferred, node_prefix_len, high - low + 1, _union_size(slots))


def _inside(cidr: IPNetwork, network: IPNetwork) -> bool:
    return int(network.network_address) <= int(cidr.network_address) and int(
        cidr.broadcast_address
    ) <= int(network.broadcast_address)


def _union_size(intervals: list[tuple[int, int]]) -> int:
    total = 0
    current_end = -1
    for first, last in sorted(intervals):
        if first > current_end:
            total += last - first + 1
            current_end = last
        elif last > current_end:
            total += last - current_end
            current_end = last
    return total
