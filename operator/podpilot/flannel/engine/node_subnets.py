"""One row per node: its pod subnet(s), what flannel announced for it, and how full it is.

In kube mode the node's lease *is* ``spec.podCIDR(s)``: flanneld reads ``spec.podCIDR`` (must be
set) and then ``spec.podCIDRs`` (at most two entries, one per family, any order; the last one of
a family wins). Usable addresses follow flannel's CNI delegation (bridge + host-local): the
network address, the ``cni0`` gateway (first address) and, for IPv4, the broadcast address are
never handed to pods.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from podpilot.apimachinery.json_fields import mapping
from podpilot.apimachinery.timestamps import parse_datetime
from podpilot.flannel.engine.annotations import (
    AddressValue,
    AnnotationKeys,
    FlannelAnnotations,
    VxlanData,
    read_annotations,
)

IPNetwork = IPv4Network | IPv6Network
TERMINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class PodCIDRs:
    """A node's pod CIDRs as flanneld would read them.

    Attributes:
        ipv4: The IPv4 pod CIDR, if any.
        ipv6: The IPv6 pod CIDR, if any.
        errors: Reasons flanneld would fail to acquire a lease from this spec (unparsable
            CIDR, more than two entries, two of one family).
        primary_mismatch: Set when ``spec.podCIDR`` differs from ``spec.podCIDRs[0]``.
    """

    ipv4: IPv4Network | None = None
    ipv6: IPv6Network | None = None
    errors: tuple[str, ...] = ()
    primary_mismatch: str | None = None

    @property
    def assigned(self) -> bool:
        """True when the node has at least one usable pod CIDR."""
        return self.ipv4 is not None or self.ipv6 is not None


def read_pod_cidrs(node: Mapping[str, Any]) -> PodCIDRs:
    """Read ``spec.podCIDR`` and ``spec.podCIDRs`` the way flanneld's ``AcquireLease`` does.

    Args:
        node: The Node as the API returns it.

    Returns:
        The CIDRs per family and any problem found; never raises.
    """
    spec = mapping(node.get("spec"))
    primary = spec.get("podCIDR") or ""
    listed = spec.get("podCIDRs") or []
    if not isinstance(primary, str) or not isinstance(listed, list):
        return PodCIDRs(errors=("spec.podCIDR(s) has an unexpected type",))
    if not primary and not listed:
        return PodCIDRs()
    entries = [str(entry) for entry in listed] or [primary]
    if len(entries) > 2:
        return PodCIDRs(errors=(f"{len(entries)} podCIDRs: flannel accepts one per family",))
    mismatch = None
    if listed and primary and primary != entries[0]:
        mismatch = f"spec.podCIDR {primary} differs from spec.podCIDRs[0] {entries[0]}"
    ipv4: IPv4Network | None = None
    ipv6: IPv6Network | None = None
    errors: list[str] = []
    for entry in entries:
        try:
            cidr = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            errors.append(f"podCIDR {entry[:64]!r} is not a valid CIDR")
            continue
        if isinstance(cidr, IPv4Network):
            if ipv4 is not None:
                errors.append(f"two IPv4 podCIDRs ({ipv4} and {cidr})")
            ipv4 = cidr
        else:
            if ipv6 is not None:
                errors.append(f"two IPv6 podCIDRs ({ipv6} and {cidr})")
            ipv6 = cidr
    return PodCIDRs(ipv4, ipv6, tuple(errors), mismatch)


def usable_ips(cidr: IPNetwork) -> int:
    """Addresses host-local can hand to pods in a node subnet.

    IPv4 loses the network, gateway and broadcast addresses; IPv6 has no broadcast.
    """
    reserved = 3 if cidr.version == 4 else 2
    return max(0, cidr.num_addresses - reserved)


@dataclass(frozen=True)
class PodRef:
    """A pod holding addresses on a node."""

    namespace: str
    name: str
    node: str
    ips: tuple[str, ...]

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


def pod_ref(pod: Mapping[str, Any]) -> PodRef | None:
    """Reduce a Pod object to the addresses it holds from its node's subnet.

    Args:
        pod: The Pod as the API returns it.

    Returns:
        None for pods that hold no pod-network address: host-network, unscheduled, finished
        (``Succeeded``/``Failed``) or not yet given an IP.
    """
    spec = mapping(pod.get("spec"))
    status = mapping(pod.get("status"))
    metadata = mapping(pod.get("metadata"))
    node = spec.get("nodeName")
    if spec.get("hostNetwork") or not isinstance(node, str) or not node:
        return None
    if status.get("phase") in TERMINAL_POD_PHASES:
        return None
    ips = [entry.get("ip") for entry in status.get("podIPs") or [] if isinstance(entry, dict)]
    if not ips and status.get("podIP"):
        ips = [status.get("podIP")]
    clean = tuple(ip for ip in ips if isinstance(ip, str) and ip)
    if not clean:
        return None
    return PodRef(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        node=node,
        ips=clean,
    )


@dataclass(frozen=True)
class FamilyUsage:
    """Address use of one family's node subnet."""

    pod_cidr: IPNetwork
    usable_ips: int
    pod_ips_in_use: int

    @property
    def utilization(self) -> float:
        """Share of usable addresses held by pods (0 when none are usable)."""
        return self.pod_ips_in_use / self.usable_ips if self.usable_ips else 0.0


@dataclass(frozen=True)
class StrayPodIP:
    """A pod address that does not belong where it should (outside the subnet, or unparsable)."""

    pod: str
    ip: str


@dataclass(frozen=True)
class NodeSubnet:
    """Everything known about one node's flannel subnet.

    Attributes:
        name: Node name.
        managed: Whether flannel is expected to run on the node; unmanaged nodes are reported
            but never flagged.
        flannel_pod_present: Whether a flannel pod is scheduled on the node (if known).
        pod_cidrs: The node's pod CIDRs.
        annotations: flannel's annotations.
        addresses: ``status.addresses`` (type, parsed value).
        network_unavailable: The ``NetworkUnavailable`` condition, None if absent.
        network_unavailable_reason: Its reason, if any.
        allocatable_pods: ``status.allocatable.pods``, if it is an integer.
        created: ``metadata.creationTimestamp``, if parsable.
        ipv4: IPv4 address use, when the node has an IPv4 pod CIDR.
        ipv6: IPv6 address use, when the node has an IPv6 pod CIDR.
        pods_outside_subnet: Pod addresses outside every pod CIDR of the node.
        invalid_pod_ips: Pod address strings that do not parse.
    """

    name: str
    managed: bool
    flannel_pod_present: bool | None
    pod_cidrs: PodCIDRs
    annotations: FlannelAnnotations
    addresses: tuple[tuple[str, AddressValue], ...]
    network_unavailable: bool | None
    network_unavailable_reason: str | None
    allocatable_pods: int | None
    created: datetime | None
    ipv4: FamilyUsage | None
    ipv6: FamilyUsage | None
    pods_outside_subnet: tuple[StrayPodIP, ...] = ()
    invalid_pod_ips: tuple[StrayPodIP, ...] = ()

    @property
    def vtep_mac(self) -> str | None:
        """The IPv4 VTEP MAC from vxlan backend-data, if any."""
        data = self.annotations.backend_data.data
        return data.vtep_mac if isinstance(data, VxlanData) else None

    @property
    def vtep_mac_v6(self) -> str | None:
        """The IPv6 VTEP MAC from vxlan backend-v6-data, if any."""
        data = self.annotations.backend_v6_data.data
        return data.vtep_mac if isinstance(data, VxlanData) else None

    @property
    def node_addresses(self) -> frozenset[str]:
        """The node's addresses that parse, in canonical text form."""
        return frozenset(str(v.address) for _, v in self.addresses if v.address is not None)


def build_node_subnet(
    node: Mapping[str, Any],
    keys: AnnotationKeys,
    pods: Iterable[PodRef] = (),
    *,
    managed: bool | None = None,
    flannel_pod_present: bool | None = None,
) -> NodeSubnet:
    """Build the row for one node.

    Args:
        node: The Node as the API returns it.
        keys: Annotation names for the prefix in use.
        pods: The pods on this node (see :func:`pod_ref`).
        managed: Whether flannel should run on the node (DaemonSet placement or the configured
            selector). None infers it: a node is managed when it carries any flannel annotation
            or runs a flannel pod.
        flannel_pod_present: Whether a flannel pod is scheduled there, None if unknown.

    Returns:
        The row; malformed input shows up in its fields, never as an exception.
    """
    metadata = mapping(node.get("metadata"))
    status = mapping(node.get("status"))
    annotations = read_annotations(node, keys)
    cidrs = read_pod_cidrs(node)
    if managed is None:
        managed = annotations.any_present or bool(flannel_pod_present)
    unavailable, reason = _network_unavailable(status)
    counts = {4: 0, 6: 0}
    outside: list[StrayPodIP] = []
    invalid: list[StrayPodIP] = []
    for pod in pods:
        for raw in pod.ips:
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                invalid.append(StrayPodIP(pod.key, raw[:64]))
                continue
            cidr = cidrs.ipv4 if address.version == 4 else cidrs.ipv6
            if cidr is not None and address in cidr:
                counts[address.version] += 1
            elif cidrs.assigned:
                outside.append(StrayPodIP(pod.key, raw))
    return NodeSubnet(
        name=str(metadata.get("name", "")),
        managed=managed,
        flannel_pod_present=flannel_pod_present,
        pod_cidrs=cidrs,
        annotations=annotations,
        addresses=_addresses(status),
        network_unavailable=unavailable,
        network_unavailable_reason=reason,
        allocatable_pods=_allocatable_pods(status),
        created=parse_datetime(metadata.get("creationTimestamp")),
        ipv4=_usage(cidrs.ipv4, counts[4]),
        ipv6=_usage(cidrs.ipv6, counts[6]),
        pods_outside_subnet=tuple(outside),
        invalid_pod_ips=tuple(invalid),
    )


def _usage(cidr: IPNetwork | None, in_use: int) -> FamilyUsage | None:
    return None if cidr is None else FamilyUsage(cidr, usable_ips(cidr), in_use)


def _addresses(status: Mapping[str, Any]) -> tuple[tuple[str, AddressValue], ...]:
    result: list[tuple[str, AddressValue]] = []
    entries = status.get("addresses")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            continue
        raw = entry["address"]
        try:
            value = AddressValue(raw, ipaddress.ip_address(raw))
        except ValueError:
            # Hostname and DNS entries are not addresses; only IP-typed entries are suspect.
            value = AddressValue(raw[:256], None)
        result.append((str(entry.get("type", "")), value))
    return tuple(result)


def _network_unavailable(status: Mapping[str, Any]) -> tuple[bool | None, str | None]:
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "NetworkUnavailable":
            reason = condition.get("reason")
            return condition.get("status") == "True", reason if isinstance(reason, str) else None
    return None, None


def _allocatable_pods(status: Mapping[str, Any]) -> int | None:
    value = mapping(status.get("allocatable")).get("pods")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
