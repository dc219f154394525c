"""Findings that need more than one node: overlaps, duplicates, capacity, and net-conf itself.

Every check here is a sort or a dictionary pass, so a 5,000-node cluster costs milliseconds.
Nodes flannel does not manage take part in overlap detection (their podCIDRs still hold
addresses) but are never the subject of a finding.
"""

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from ipaddress import ip_address

from podpilot.flannel.engine.cluster import FamilyCapacity, SubnetManager
from podpilot.flannel.engine.findings import Finding, Severity, finding
from podpilot.flannel.engine.netconf import NetConfResult
from podpilot.flannel.engine.node_checks import NetworkView, Thresholds
from podpilot.flannel.engine.node_subnets import IPNetwork, NodeSubnet, PodRef
from podpilot.flannel.engine.overlaps import find_overlaps

EXAMPLE_LIMIT = 5


def net_conf_findings(
    result: NetConfResult, view: NetworkView, manager: SubnetManager
) -> list[Finding]:
    """FL018 when net-conf is unusable (saying what was inferred), FL029 for etcd-only keys.

    Args:
        result: The parse result.
        view: The Networks in use, possibly inferred.
        manager: The subnet manager mode.

    Returns:
        The findings.
    """
    if result.error is not None:
        inferred = ", ".join(str(n) for n in (view.ipv4_network, view.ipv6_network) if n) or "none"
        return [
            finding(
                "FL018",
                f"{result.error}. Network inferred from node podCIDRs: {inferred}; backend, VNI "
                "and containment checks are skipped.",
                error=result.error,
                inferred_networks=inferred,
            )
        ]
    if result.conf and result.conf.etcd_only_fields and manager is SubnetManager.KUBE:
        fields = ", ".join(result.conf.etcd_only_fields)
        return [
            finding(
                "FL029",
                f"net-conf sets {fields}, which the kube subnet manager ignores; node subnets "
                "come from kube-controller-manager.",
                fields=fields,
            )
        ]
    return []


def overlap_findings(rows: Sequence[NodeSubnet]) -> list[Finding]:
    """FL003 for every managed node whose podCIDR overlaps another node's (per family)."""
    found: list[Finding] = []
    for family in ("ipv4", "ipv6"):
        cidrs: dict[str, IPNetwork] = {}
        for row in rows:
            cidr = getattr(row.pod_cidrs, family)
            if cidr is not None:
                cidrs[row.name] = cidr
        managed = {row.name for row in rows if row.managed}
        for node, overlap in sorted(find_overlaps(cidrs).items()):
            if node not in managed:
                continue
            others = _with_more(overlap.examples, overlap.count)
            found.append(
                finding(
                    "FL003",
                    f"Node {node} podCIDR {cidrs[node]} overlaps {overlap.count} other node(s): "
                    f"{others}.",
                    node=node,
                    podCIDR=cidrs[node],
                    count=overlap.count,
                    others=others,
                )
            )
    return found


def duplicate_findings(rows: Sequence[NodeSubnet]) -> list[Finding]:
    """FL008 for shared VtepMACs and FL009 for shared public IPs, one finding per node."""
    managed = [row for row in rows if row.managed]
    found: list[Finding] = []
    found += _shared(managed, lambda r: r.vtep_mac, "FL008", "VtepMAC")
    found += _shared(managed, lambda r: r.vtep_mac_v6, "FL008", "IPv6 VtepMAC")
    found += _shared(managed, lambda r: _public(r, "public_ip"), "FL009", "public-ip")
    found += _shared(managed, lambda r: _public(r, "public_ipv6"), "FL009", "public-ipv6")
    return found


def _public(row: NodeSubnet, attribute: str) -> str | None:
    value = getattr(row.annotations, attribute)
    return None if value is None or value.address is None else str(value.address)


def _shared(
    rows: Iterable[NodeSubnet],
    key: Callable[[NodeSubnet], Hashable | None],
    finding_id: str,
    label: str,
) -> list[Finding]:
    holders: dict[Hashable, list[str]] = defaultdict(list)
    for row in rows:
        value = key(row)
        if value is not None:
            holders[value].append(row.name)
    found: list[Finding] = []
    for value, names in holders.items():
        if len(names) < 2:
            continue
        names.sort()
        for name in names:
            others = [n for n in names if n != name]
            text = _with_more(tuple(others[:EXAMPLE_LIMIT]), len(others))
            found.append(
                finding(
                    finding_id,
                    f"Node {name} shares {label} {value} with {text}.",
                    node=name,
                    value=value,
                    others=text,
                )
            )
    return found


def capacity_findings(
    capacities: Iterable[FamilyCapacity], thresholds: Thresholds, *, cidr_not_available: bool
) -> list[Finding]:
    """FL005 per family when allocation crosses a threshold, or whenever node IPAM has
    reported ``CIDRNotAvailable`` (then critical)."""
    found: list[Finding] = []
    for capacity in capacities:
        if capacity.inferred:
            continue
        ratio = capacity.utilization
        if cidr_not_available or ratio >= thresholds.cluster_critical:
            severity = Severity.CRITICAL
        elif ratio >= thresholds.cluster_warning:
            severity = Severity.WARNING
        else:
            continue
        event = " and node IPAM reported CIDRNotAvailable" if cidr_not_available else ""
        found.append(
            finding(
                "FL005",
                f"Network {capacity.network} has {capacity.allocated} of {capacity.subnets} "
                f"/{capacity.node_prefix_len} node subnets allocated ({ratio:.0%}, "
                f"{capacity.free} free){event}.",
                severity=severity,
                network=capacity.network,
                allocated=capacity.allocated,
                subnets=capacity.subnets,
                free=capacity.free,
            )
        )
    return found


def duplicate_pod_ip_findings(pods: Iterable[PodRef]) -> list[Finding]:
    """FL021 for every address held by more than one live pod."""
    holders: dict[str, list[PodRef]] = defaultdict(list)
    for pod in pods:
        for raw in set(pod.ips):
            try:
                canonical = str(ip_address(raw))
            except ValueError:
                continue
            holders[canonical].append(pod)
    found: list[Finding] = []
    for address, owners in sorted(holders.items()):
        if len(owners) < 2:
            continue
        owners.sort(key=lambda p: (p.node, p.key))
        shown = tuple(f"{p.key} on {p.node}" for p in owners[:EXAMPLE_LIMIT])
        found.append(
            finding(
                "FL021",
                f"Pod IP {address} is held by {len(owners)} pods: "
                f"{_with_more(shown, len(owners))}.",
                ip=address,
                count=len(owners),
                pods=", ".join(shown),
                nodes=", ".join(sorted({p.node for p in owners})[:EXAMPLE_LIMIT]),
            )
        )
    return found


def _with_more(examples: tuple[str, ...], total: int) -> str:
    text = ", ".join(examples)
    return f"{text} (+{total - len(examples)} more)" if total > len(examples) else text
