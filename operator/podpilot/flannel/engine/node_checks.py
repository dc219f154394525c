"""Findings about one node on its own: its podCIDR, its annotations, its addresses, its load.

Cross-node findings (overlaps, duplicates, capacity) live in ``cluster_checks``. Nodes that
flannel does not manage are never flagged.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network

from podpilot.flannel.engine.annotations import AddressValue, BackendDataResult, VxlanData
from podpilot.flannel.engine.findings import Finding, Severity, finding
from podpilot.flannel.engine.netconf import NetConf
from podpilot.flannel.engine.node_subnets import FamilyUsage, NodeSubnet

IPNetwork = IPv4Network | IPv6Network
EXAMPLE_LIMIT = 5
NODE_IP_ADDRESS_TYPES = frozenset({"InternalIP", "ExternalIP"})


@dataclass(frozen=True)
class Thresholds:
    """Tunable limits.

    Attributes:
        cluster_warning: Allocated share of cluster subnets that raises FL005 as a warning.
        cluster_critical: ... as critical.
        node_warning: Pod IP utilization of a node subnet that raises FL017 as a warning.
        node_critical: ... as critical.
        pod_cidr_grace: How long a new node may lack a podCIDR before FL001.
        announce_grace: How long a node may stay unannounced before FL006 turns critical.
    """

    cluster_warning: float = 0.80
    cluster_critical: float = 0.95
    node_warning: float = 0.85
    node_critical: float = 0.98
    pod_cidr_grace: timedelta = timedelta(minutes=2)
    announce_grace: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class NetworkView:
    """What node checks need to know about the cluster network.

    Attributes:
        conf: The usable net-conf, or None when it is missing or invalid.
        ipv4_network: The IPv4 Network, configured or inferred.
        ipv6_network: The IPv6 Network, configured or inferred.
        inferred: True when the Networks were inferred from podCIDRs.
    """

    conf: NetConf | None
    ipv4_network: IPv4Network | None
    ipv6_network: IPv6Network | None
    inferred: bool


def node_findings(
    row: NodeSubnet, view: NetworkView, thresholds: Thresholds, now: datetime | None
) -> list[Finding]:
    """Evaluate every single-node check.

    Args:
        row: The node's row.
        view: The cluster network as configured (or inferred).
        thresholds: Limits and grace periods.
        now: The reconcile time for grace periods; None applies no grace.

    Returns:
        The findings, empty for unmanaged nodes.
    """
    if not row.managed:
        return []
    found: list[Finding] = []
    found += _pod_cidr_findings(row, view, thresholds, now)
    found += _announcement_findings(row, view, thresholds, now)
    found += _backend_findings(row, view)
    found += _address_findings(row)
    found += _dual_stack_findings(row, view)
    found += _capacity_findings(row, thresholds)
    found += _pod_ip_findings(row)
    if row.network_unavailable:
        found.append(
            finding(
                "FL015",
                f"Node {row.name} has NetworkUnavailable=True"
                + (
                    f" (reason {row.network_unavailable_reason})"
                    if row.network_unavailable_reason
                    else ""
                )
                + "; pods needing the pod network will not start there.",
                node=row.name,
                reason=row.network_unavailable_reason,
            )
        )
    return found


def _age(row: NodeSubnet, now: datetime | None) -> timedelta | None:
    if now is None or row.created is None:
        return None
    return now - row.created


def _pod_cidr_findings(
    row: NodeSubnet, view: NetworkView, thresholds: Thresholds, now: datetime | None
) -> list[Finding]:
    cidrs = row.pod_cidrs
    found: list[Finding] = []
    for error in cidrs.errors:
        found.append(
            finding(
                "FL028",
                f"Node {row.name}: {error}; flanneld cannot take a lease from it.",
                node=row.name,
            )
        )
    if cidrs.primary_mismatch:
        found.append(
            finding(
                "FL028",
                f"Node {row.name}: {cidrs.primary_mismatch}.",
                node=row.name,
                severity=Severity.WARNING,
            )
        )
    if not cidrs.assigned and not cidrs.errors:
        age = _age(row, now)
        if age is None or age >= thresholds.pod_cidr_grace:
            found.append(
                finding(
                    "FL001",
                    f"Node {row.name} has no podCIDR; flanneld there fails with "
                    f"'pod cidr not assigned' and the node gets no pod network.",
                    node=row.name,
                )
            )
    if view.inferred:
        return found
    for cidr, network, enabled in (
        (cidrs.ipv4, view.ipv4_network, view.conf is None or view.conf.enable_ipv4),
        (cidrs.ipv6, view.ipv6_network, True),
    ):
        if cidr is None or network is None or not enabled:
            continue
        if _inside(network, cidr):
            found.append(
                finding(
                    "FL004",
                    f"Node {row.name} has podCIDR {cidr}, as large as the whole Network {network}; "
                    "its pod IPs will collide with other nodes'.",
                    node=row.name,
                    podCIDR=cidr,
                    network=network,
                )
            )
        elif not _inside(cidr, network):
            found.append(
                finding(
                    "FL002",
                    f"Node {row.name} has podCIDR {cidr} outside the flannel Network {network}; "
                    "flanneld refuses the lease.",
                    node=row.name,
                    podCIDR=cidr,
                    network=network,
                )
            )
    return found


def _inside(cidr: IPNetwork, network: IPNetwork) -> bool:
    return int(network.network_address) <= int(cidr.network_address) and int(
        cidr.broadcast_address
    ) <= int(network.broadcast_address)


def _announcement_findings(
    row: NodeSubnet, view: NetworkView, thresholds: Thresholds, now: datetime | None
) -> list[Finding]:
    notes = row.annotations
    if not row.pod_cidrs.assigned or row.flannel_pod_present is False:
        return []
    ipv4_wanted = view.conf.enable_ipv4 if view.conf else row.pod_cidrs.ipv4 is not None
    missing = []
    if not notes.kube_subnet_manager:
        missing.append("kube-subnet-manager=true")
    if notes.backend_type is None:
        missing.append("backend-type")
    if ipv4_wanted and notes.public_ip is None:
        missing.append("public-ip")
    if not ipv4_wanted and notes.public_ipv6 is None:
        missing.append("public-ipv6")
    if not missing:
        return []
    age = _age(row, now)
    late = age is not None and age >= thresholds.announce_grace
    return [
        finding(
            "FL006",
            f"Node {row.name} has podCIDR but flannel has not announced it (missing "
            f"{', '.join(missing)}); peers will not route to its pods.",
            node=row.name,
            severity=Severity.CRITICAL if late else Severity.WARNING,
            missing=", ".join(missing),
        )
    ]


def _backend_findings(row: NodeSubnet, view: NetworkView) -> list[Finding]:
    notes = row.annotations
    found: list[Finding] = []
    for label, result in (
        ("backend-data", notes.backend_data),
        ("backend-v6-data", notes.backend_v6_data),
    ):
        if result.error:
            found.append(
                finding(
                    "FL007",
                    f"Node {row.name} {label} is malformed for backend {notes.backend_type}: "
                    f"{result.error}; peers skip this node.",
                    node=row.name,
                    annotation=label,
                    raw=result.raw,
                )
            )
    conf = view.conf
    if conf is None or view.inferred or notes.backend_type is None:
        return found
    if notes.backend_type.lower() != conf.backend.type:
        found.append(
            finding(
                "FL012",
                f"Node {row.name} announces backend {notes.backend_type} but net-conf says "
                f"{conf.backend.type}; peers ignore its lease.",
                node=row.name,
                node_backend=notes.backend_type,
                netconf_backend=conf.backend.type,
            )
        )
    elif conf.backend.vni is not None:
        for result in (notes.backend_data, notes.backend_v6_data):
            found += _vni_mismatch(row.name, result, conf.backend.vni)
    return found


def _vni_mismatch(node: str, result: BackendDataResult, expected: int) -> list[Finding]:
    if not isinstance(result.data, VxlanData) or result.data.vni == expected:
        return []
    return [
        finding(
            "FL013",
            f"Node {node} announces VNI {result.data.vni} but net-conf says {expected}; its "
            "VTEP cannot reach the others.",
            node=node,
            node_vni=result.data.vni,
            netconf_vni=expected,
        )
    ]


def _address_findings(row: NodeSubnet) -> list[Finding]:
    notes = row.annotations
    found: list[Finding] = []
    for label, value, severity in (
        ("public-ip", notes.public_ip, Severity.CRITICAL),
        ("public-ipv6", notes.public_ipv6, Severity.CRITICAL),
        ("public-ip-overwrite", notes.public_ip_overwrite, Severity.WARNING),
        ("public-ipv6-overwrite", notes.public_ipv6_overwrite, Severity.WARNING),
        ("node-public-ip", notes.node_public_ip, Severity.WARNING),
        ("node-public-ipv6", notes.node_public_ipv6, Severity.WARNING),
    ):
        if value is not None and value.address is None:
            found.append(_invalid_address(row.name, label, value.raw, severity))
    for kind, value in row.addresses:
        if kind in NODE_IP_ADDRESS_TYPES and value.address is None:
            found.append(
                _invalid_address(row.name, f"status.addresses {kind}", value.raw, Severity.WARNING)
            )
    for public, overwrite, node_public, family in (
        (notes.public_ip, notes.public_ip_overwrite, notes.node_public_ip, ""),
        (notes.public_ipv6, notes.public_ipv6_overwrite, notes.node_public_ipv6, "v6"),
    ):
        found += _public_ip_findings(row, public, overwrite, node_public, family)
    return found


def _invalid_address(node: str, label: str, raw: str, severity: Severity) -> Finding:
    consequence = "; peers cannot decode the lease" if severity is Severity.CRITICAL else ""
    return finding(
        "FL027",
        f"Node {node} {label} {raw!r} is not a valid IP address{consequence}.",
        node=node,
        severity=severity,
        field=label,
        raw=raw,
    )


def _public_ip_findings(
    row: NodeSubnet,
    public: AddressValue | None,
    overwrite: AddressValue | None,
    node_public: AddressValue | None,
    family: str,
) -> list[Finding]:
    if public is None or public.address is None:
        return []
    found: list[Finding] = []
    for label, wanted in (
        (f"public-ip{family}-overwrite", overwrite),
        (f"node-public-ip{family}", node_public),
    ):
        if wanted is not None and wanted.address is not None and wanted.address != public.address:
            found.append(
                finding(
                    "FL011",
                    f"Node {row.name} {label} is {wanted.address} but public-ip{family} is still "
                    f"{public.address}; flannel applies it only when it restarts there.",
                    node=row.name,
                    wanted=wanted.address,
                    public_ip=public.address,
                )
            )
    unexplained = overwrite is None and node_public is None
    if unexplained and row.node_addresses and str(public.address) not in row.node_addresses:
        found.append(
            finding(
                "FL010",
                f"Node {row.name} public-ip{family} {public.address} is not one of its "
                f"addresses ({', '.join(sorted(row.node_addresses))}); flannel may use the "
                "wrong interface.",
                node=row.name,
                public_ip=public.address,
                node_addresses=", ".join(sorted(row.node_addresses)),
            )
        )
    return found


def _dual_stack_findings(row: NodeSubnet, view: NetworkView) -> list[Finding]:
    if view.inferred or view.conf is None or not row.pod_cidrs.assigned:
        return []
    gaps: list[str] = []
    if view.conf.enable_ipv6:
        if row.pod_cidrs.ipv6 is None:
            gaps.append("no IPv6 podCIDR")
        if row.annotations.kube_subnet_manager and row.annotations.public_ipv6 is None:
            gaps.append("no public-ipv6 annotation")
        vxlan = (row.annotations.backend_type or "").lower() == "vxlan"
        if (
            vxlan
            and row.annotations.kube_subnet_manager
            and row.annotations.backend_v6_data.data is None
            and row.annotations.backend_v6_data.error is None
        ):
            gaps.append("no backend-v6-data annotation")
    elif row.pod_cidrs.ipv6 is not None and view.conf.ipv6_network is None:
        gaps.append(f"IPv6 podCIDR {row.pod_cidrs.ipv6} but net-conf has no IPv6Network")
    if not gaps:
        return []
    return [
        finding(
            "FL014",
            f"Node {row.name} dual-stack is incomplete: {'; '.join(gaps)}.",
            node=row.name,
            gaps="; ".join(gaps),
        )
    ]


def _capacity_findings(row: NodeSubnet, thresholds: Thresholds) -> list[Finding]:
    found: list[Finding] = []
    families = [usage for usage in (row.ipv4, row.ipv6) if usage is not None]
    if families and row.allocatable_pods is not None:
        smallest = min(families, key=lambda usage: usage.usable_ips)
        if smallest.usable_ips < row.allocatable_pods:
            found.append(
                finding(
                    "FL016",
                    f"Node {row.name} subnet {smallest.pod_cidr} has {smallest.usable_ips} usable "
                    f"IPs but allocatable pods is {row.allocatable_pods}.",
                    node=row.name,
                    podCIDR=smallest.pod_cidr,
                    usable_ips=smallest.usable_ips,
                    allocatable_pods=row.allocatable_pods,
                )
            )
    for usage in families:
        found += _pressure(row.name, usage, thresholds)
    return found


def _pressure(node: str, usage: FamilyUsage, thresholds: Thresholds) -> list[Finding]:
    if usage.usable_ips == 0 or usage.utilization < thresholds.node_warning:
        return []
    severity = (
        Severity.CRITICAL if usage.utilization >= thresholds.node_critical else Severity.WARNING
    )
    return [
        finding(
            "FL017",
            f"Node {node} subnet {usage.pod_cidr} is {usage.utilization:.0%} used "
            f"({usage.pod_ips_in_use} of {usage.usable_ips} IPs).",
            node=node,
            severity=severity,
            podCIDR=usage.pod_cidr,
            in_use=usage.pod_ips_in_use,
            usable_ips=usage.usable_ips,
        )
    ]


def _pod_ip_findings(row: NodeSubnet) -> list[Finding]:
    found: list[Finding] = []
    if row.pods_outside_subnet:
        strays = row.pods_outside_subnet
        examples = ", ".join(f"{s.pod} {s.ip}" for s in strays[:EXAMPLE_LIMIT])
        cidrs = ", ".join(str(c) for c in (row.pod_cidrs.ipv4, row.pod_cidrs.ipv6) if c is not None)
        found.append(
            finding(
                "FL022",
                f"Node {row.name} has {len(strays)} pod IP(s) outside its podCIDR {cidrs}: "
                f"{examples}.",
                node=row.name,
                count=len(strays),
                examples=examples,
            )
        )
    if row.invalid_pod_ips:
        bad = row.invalid_pod_ips
        examples = ", ".join(f"{s.pod} {s.ip!r}" for s in bad[:EXAMPLE_LIMIT])
        found.append(
            finding(
                "FL027",
                f"Node {row.name} has {len(bad)} pod IP string(s) that do not parse: {examples}.",
                node=row.name,
                field="status.podIPs",
                count=len(bad),
                examples=examples,
            )
        )
    return found
