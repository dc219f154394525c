"""Render reports as the ``status`` of the FlannelSubnetReport and FlannelNetworkReport resources.

Shapes match ``crds/flannelsubnetreports.podpilot.io.yaml`` and
``crds/flannelnetworkreports.podpilot.io.yaml``. Counts that can exceed int64 (IPv6 address and
subnet counts) are written as decimal strings; the schema marks them int-or-string.
"""

from typing import Any

from podpilot.flannel.engine.cluster import FamilyCapacity
from podpilot.flannel.engine.findings import Finding, Severity
from podpilot.flannel.engine.node_subnets import FamilyUsage
from podpilot.flannel.engine.report import NetworkReport, NodeReport, worst

INT64_MAX = 2**63 - 1
NODE_FINDINGS_LIMIT = 50
CLUSTER_FINDINGS_LIMIT = 100


def k8s_int(value: int) -> int | str:
    """An integer as JSON for Kubernetes: itself when it fits int64, else a decimal string."""
    return value if value <= INT64_MAX else str(value)


def finding_status(item: Finding) -> dict[str, Any]:
    """One finding as a status list entry."""
    entry: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "severity": item.severity.label,
        "message": item.message,
        "evidence": dict(item.evidence),
    }
    if item.node is not None:
        entry["node"] = item.node
    return entry


def _usage(usage: FamilyUsage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "podCIDR": str(usage.pod_cidr),
        "usableIPs": k8s_int(usage.usable_ips),
        "podIPsInUse": usage.pod_ips_in_use,
        "utilizationPercent": round(usage.utilization * 100, 1),
    }


def node_status(report: NodeReport) -> dict[str, Any]:
    """The ``status`` of one node's FlannelSubnetReport.

    Args:
        report: The node report.

    Returns:
        A JSON-ready dict; absent values are omitted.
    """
    row = report.subnet
    notes = row.annotations
    primary = row.ipv4 or row.ipv6
    data_vni = getattr(notes.backend_data.data, "vni", None)
    status: dict[str, Any] = {
        "state": report.status,
        "managed": row.managed,
        "announced": notes.kube_subnet_manager,
        "podCIDRs": [str(c) for c in (row.pod_cidrs.ipv4, row.pod_cidrs.ipv6) if c is not None],
        "podCIDR": str(primary.pod_cidr) if primary else None,
        "publicIP": notes.public_ip.raw if notes.public_ip else None,
        "publicIPv6": notes.public_ipv6.raw if notes.public_ipv6 else None,
        "backendType": notes.backend_type,
        "vni": data_vni,
        "vtepMAC": row.vtep_mac,
        "vtepMACv6": row.vtep_mac_v6,
        "ipv4": _usage(row.ipv4),
        "ipv6": _usage(row.ipv6),
        "ipsUsed": f"{primary.pod_ips_in_use}/{primary.usable_ips}" if primary else None,
        "utilization": _percent(primary.utilization) if primary else None,
        "findings": [finding_status(f) for f in report.findings[:NODE_FINDINGS_LIMIT]],
        "findingsOmitted": max(0, len(report.findings) - NODE_FINDINGS_LIMIT),
        "worstSeverity": _label(worst(report.findings)),
    }
    return {key: value for key, value in status.items() if value is not None}


def _capacity(capacity: FamilyCapacity | None) -> dict[str, Any] | None:
    if capacity is None:
        return None
    return {
        "network": str(capacity.network),
        "inferred": capacity.inferred,
        "nodeMask": capacity.node_prefix_len,
        "subnets": k8s_int(capacity.subnets),
        "allocated": k8s_int(capacity.allocated),
        "free": k8s_int(capacity.free),
        "utilizationPercent": round(capacity.utilization * 100, 1),
    }


def network_status(report: NetworkReport) -> dict[str, Any]:
    """The ``status`` of the cluster-wide FlannelNetworkReport.

    Args:
        report: The network report.

    Returns:
        A JSON-ready dict. Findings are the cluster-level ones followed by node findings, worst
        first, capped at 100 with the rest counted in ``findingsOmitted``.
    """
    conf = report.net_conf.conf
    primary = report.ipv4 or report.ipv6
    managed = report.managed_nodes
    findings = sorted(report.findings, key=lambda f: -f.severity)
    net_conf: dict[str, Any] = {"source": report.network_source, "valid": conf is not None}
    if report.net_conf.error:
        net_conf["error"] = report.net_conf.error[:1024]
    if conf is not None:
        net_conf.update(
            {
                "network": str(conf.network) if conf.network else None,
                "ipv6Network": str(conf.ipv6_network) if conf.ipv6_network else None,
                "enableIPv4": conf.enable_ipv4,
                "enableIPv6": conf.enable_ipv6,
                "backend": conf.backend.type,
                "vni": conf.backend.vni,
                "port": conf.backend.port,
                "mtuOverhead": conf.backend.mtu_overhead,
            }
        )
    status: dict[str, Any] = {
        "network": ", ".join(str(c.network) for c in (report.ipv4, report.ipv6) if c) or None,
        "backend": conf.backend.type if conf else None,
        "subnets": k8s_int(primary.subnets) if primary else None,
        "allocated": k8s_int(primary.allocated) if primary else None,
        "free": k8s_int(primary.free) if primary else None,
        "utilization": _percent(primary.utilization) if primary else None,
        "netConf": {k: v for k, v in net_conf.items() if v is not None},
        "capacity": {
            k: v
            for k, v in (("ipv4", _capacity(report.ipv4)), ("ipv6", _capacity(report.ipv6)))
            if v is not None
        },
        "annotationPrefix": report.annotation_prefix,
        "nodes": {
            "total": len(report.nodes),
            "managed": len(managed),
            "announced": sum(1 for n in managed if n.subnet.annotations.kube_subnet_manager),
            "withoutPodCIDR": sum(1 for n in managed if not n.subnet.pod_cidrs.assigned),
            "ok": report.nodes_ok,
        },
        "findingCounts": {s.label: report.count(s) for s in Severity},
        "findings": [finding_status(f) for f in findings[:CLUSTER_FINDINGS_LIMIT]],
        "findingsOmitted": max(0, len(findings) - CLUSTER_FINDINGS_LIMIT),
        "worstSeverity": _label(worst(findings)),
    }
    return {key: value for key, value in status.items() if value is not None}


def _label(severity: Severity | None) -> str:
    return "none" if severity is None else severity.label


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"
