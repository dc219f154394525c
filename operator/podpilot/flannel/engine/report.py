"""Assemble the whole picture: one :class:`NodeReport` per node and the :class:`NetworkReport`.

This is the entry point for the controller: hand it the Node objects, the net-conf.json text and
the Pod objects (all plain dicts as the API returns them) and it returns frozen values. It reads
no clock; pass ``now`` for grace periods.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from podpilot.flannel.engine.annotations import DEFAULT_PREFIX, annotation_keys, detect_prefix
from podpilot.flannel.engine.cluster import (
    FamilyCapacity,
    IPNetwork,
    SubnetManager,
    family_capacity,
    infer_network,
    node_prefix_len_for,
)
from podpilot.flannel.engine.cluster_checks import (
    capacity_findings,
    duplicate_findings,
    duplicate_pod_ip_findings,
    net_conf_findings,
    overlap_findings,
)
from podpilot.flannel.engine.findings import Finding, Severity
from podpilot.flannel.engine.netconf import NetConf, NetConfResult, parse_net_conf
from podpilot.flannel.engine.node_checks import NetworkView, Thresholds, node_findings
from podpilot.flannel.engine.node_subnets import NodeSubnet, PodRef, build_node_subnet, pod_ref


@dataclass(frozen=True)
class ReporterOptions:
    """How to read the cluster.

    Attributes:
        annotation_prefix: flanneld's ``--kube-annotation-prefix``; None detects it from the
            nodes and falls back to ``flannel.alpha.coreos.com``.
        thresholds: Limits and grace periods.
        managed_nodes: Names of nodes flannel should run on (DaemonSet placement or a configured
            selector). None infers it per node from annotations and flannel pods.
        flannel_pod_nodes: Names of nodes with a flannel pod scheduled, None if unknown.
        node_prefix_len_v4: kube-controller-manager ``--node-cidr-mask-size-ipv4``, if known.
        node_prefix_len_v6: kube-controller-manager ``--node-cidr-mask-size-ipv6``, if known.
        subnet_manager: Kube (default) or etcd mode, for capacity rules.
        cidr_not_available: True when a recent ``CIDRNotAvailable`` Node event was seen.
    """

    annotation_prefix: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    managed_nodes: frozenset[str] | None = None
    flannel_pod_nodes: frozenset[str] | None = None
    node_prefix_len_v4: int | None = None
    node_prefix_len_v6: int | None = None
    subnet_manager: SubnetManager = SubnetManager.KUBE
    cidr_not_available: bool = False


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The highest severity among findings, None when there are none."""
    return max((f.severity for f in findings), default=None)


@dataclass(frozen=True)
class NodeReport:
    """One node's row and its findings (including cross-node ones naming it)."""

    subnet: NodeSubnet
    findings: tuple[Finding, ...]

    @property
    def name(self) -> str:
        """Node name."""
        return self.subnet.name

    @property
    def status(self) -> str:
        """``OK``, ``Info``, ``Warning``, ``Critical``, or ``Unmanaged`` for non-flannel nodes."""
        if not self.subnet.managed:
            return "Unmanaged"
        severity = worst(self.findings)
        return "OK" if severity is None else severity.name.capitalize()


@dataclass(frozen=True)
class NetworkReport:
    """The cluster-wide report.

    Attributes:
        net_conf: The net-conf parse result.
        network_source: ``configmap`` when net-conf was usable, ``inferred`` otherwise.
        annotation_prefix: The annotation prefix used.
        ipv4: IPv4 capacity, when there is an IPv4 Network.
        ipv6: IPv6 capacity, when there is an IPv6 Network.
        nodes: One report per node, sorted by name.
        cluster_findings: Findings about no single node (net-conf, capacity, duplicate pod IPs).
    """

    net_conf: NetConfResult
    network_source: str
    annotation_prefix: str
    ipv4: FamilyCapacity | None
    ipv6: FamilyCapacity | None
    nodes: tuple[NodeReport, ...]
    cluster_findings: tuple[Finding, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Cluster findings followed by every node finding."""
        return self.cluster_findings + tuple(f for n in self.nodes for f in n.findings)

    def count(self, severity: Severity) -> int:
        """How many findings have exactly this severity."""
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def managed_nodes(self) -> tuple[NodeReport, ...]:
        """Reports of the nodes flannel manages."""
        return tuple(n for n in self.nodes if n.subnet.managed)

    @property
    def nodes_ok(self) -> int:
        """Managed nodes without a warning or critical finding."""
        return sum(
            1 for n in self.managed_nodes if (worst(n.findings) or Severity.INFO) < Severity.WARNING
        )


def build_report(
    nodes: Iterable[Mapping[str, Any]],
    net_conf_text: str | None,
    pods: Iterable[Mapping[str, Any]] = (),
    *,
    options: ReporterOptions | None = None,
    now: datetime | None = None,
) -> NetworkReport:
    """Compute every row, the capacity and all findings from one snapshot.

    Args:
        nodes: Node objects.
        net_conf_text: The ``net-conf.json`` value, None if the ConfigMap or key is missing.
        pods: Pod objects (host-network and finished pods are skipped).
        options: How to read the cluster.
        now: Reconcile time for grace periods; None applies none.

    Returns:
        The report. Malformed input becomes findings; nothing here raises on cluster data.

    Raises:
        ValueError: Only if ``options.annotation_prefix`` is not a valid flannel prefix.
    """
    options = options or ReporterOptions()
    node_list = [n for n in nodes if isinstance(n, Mapping)]
    prefix = options.annotation_prefix or detect_prefix(node_list) or DEFAULT_PREFIX
    keys = annotation_keys(prefix)
    pod_refs = [ref for ref in (pod_ref(p) for p in pods if isinstance(p, Mapping)) if ref]
    pods_by_node: dict[str, list[PodRef]] = defaultdict(list)
    for ref in pod_refs:
        pods_by_node[ref.node].append(ref)

    rows = sorted(
        (
            build_node_subnet(
                node,
                keys,
                pods_by_node.get(_name(node), ()),
                managed=None
                if options.managed_nodes is None
                else _name(node) in options.managed_nodes,
                flannel_pod_present=None
                if options.flannel_pod_nodes is None
                else _name(node) in options.flannel_pod_nodes,
            )
            for node in node_list
        ),
        key=lambda row: row.name,
    )
    net_conf = parse_net_conf(net_conf_text)
    view = _network_view(net_conf, rows)
    capacities = _capacities(view, net_conf, rows, options)

    per_node: dict[str, list[Finding]] = {
        row.name: node_findings(row, view, options.thresholds, now) for row in rows
    }
    for cross in (*overlap_findings(rows), *duplicate_findings(rows)):
        if cross.node is not None:
            per_node[cross.node].append(cross)
    cluster_findings = (
        net_conf_findings(net_conf, view, options.subnet_manager)
        + capacity_findings(
            capacities, options.thresholds, cidr_not_available=options.cidr_not_available
        )
        + duplicate_pod_ip_findings(pod_refs)
    )
    return NetworkReport(
        net_conf=net_conf,
        network_source="inferred" if view.inferred else "configmap",
        annotation_prefix=keys.prefix,
        ipv4=next((c for c in capacities if c.network.version == 4), None),
        ipv6=next((c for c in capacities if c.network.version == 6), None),
        nodes=tuple(NodeReport(row, _ordered(per_node[row.name])) for row in rows),
        cluster_findings=_ordered(cluster_findings),
    )


def _ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (-f.severity, f.id, f.node or "", f.message)))


def _name(node: Mapping[str, Any]) -> str:
    metadata = node.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""


def _network_view(net_conf: NetConfResult, rows: list[NodeSubnet]) -> NetworkView:
    if net_conf.conf is not None:
        conf = net_conf.conf
        return NetworkView(conf, conf.network, conf.ipv6_network, inferred=False)
    v4 = infer_network(r.pod_cidrs.ipv4 for r in rows if r.pod_cidrs.ipv4 is not None)
    v6 = infer_network(r.pod_cidrs.ipv6 for r in rows if r.pod_cidrs.ipv6 is not None)
    return NetworkView(
        None,
        v4 if isinstance(v4, IPv4Network) else None,
        v6 if isinstance(v6, IPv6Network) else None,
        inferred=True,
    )


def _capacities(
    view: NetworkView, net_conf: NetConfResult, rows: list[NodeSubnet], options: ReporterOptions
) -> list[FamilyCapacity]:
    networks = (view.ipv4_network, view.ipv6_network)
    return [
        _family_capacity(network, rows, view, net_conf.conf, options)
        for network in networks
        if network is not None
    ]


def _family_capacity(
    network: IPNetwork,
    rows: list[NodeSubnet],
    view: NetworkView,
    conf: NetConf | None,
    options: ReporterOptions,
) -> FamilyCapacity:
    """One family's capacity. The net-conf's subnet length counts with the etcd subnet
    manager only; ``SubnetMin``/``SubnetMax`` exist for IPv4 only."""
    etcd_conf = conf if options.subnet_manager is SubnetManager.ETCD else None
    cidrs: list[IPNetwork]
    if network.version == 4:
        cidrs = [r.pod_cidrs.ipv4 for r in rows if r.pod_cidrs.ipv4 is not None]
        override = options.node_prefix_len_v4
        subnet_len = etcd_conf.subnet_len if etcd_conf else None
    else:
        cidrs = [r.pod_cidrs.ipv6 for r in rows if r.pod_cidrs.ipv6 is not None]
        override = options.node_prefix_len_v6
        subnet_len = etcd_conf.ipv6_subnet_len if etcd_conf else None
    ipv4_conf = conf if network.version == 4 else None
    return family_capacity(
        network,
        cidrs,
        node_prefix_len=node_prefix_len_for(
            network, cidrs, override=override, subnet_len=subnet_len
        ),
        inferred=view.inferred,
        manager=options.subnet_manager,
        subnet_min=ipv4_conf.subnet_min if ipv4_conf else None,
        subnet_max=ipv4_conf.subnet_max if ipv4_conf else None,
    )
