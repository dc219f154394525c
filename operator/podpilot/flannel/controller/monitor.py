"""Sets the ``podpilot_flannel_*`` gauges from one report."""

from __future__ import annotations

from collections import Counter

from podpilot.flannel.engine.cluster import FamilyCapacity
from podpilot.flannel.engine.findings import Severity
from podpilot.flannel.engine.report import NetworkReport
from podpilot.observability import flannel_metrics as metrics


class Monitor:
    def __init__(self) -> None:
        self._findings = metrics.SeriesSet(metrics.FINDINGS)
        self._node_findings = metrics.SeriesSet(metrics.NODE_FINDING)
        self._nodes = metrics.SeriesSet(metrics.NODES)
        self._subnets = metrics.SeriesSet(metrics.NETWORK_SUBNETS)
        self._network_utilization = metrics.SeriesSet(metrics.NETWORK_UTILIZATION)
        self._node_utilization = metrics.SeriesSet(metrics.NODE_UTILIZATION)

    def record(self, report: NetworkReport) -> None:
        findings = report.findings
        counts = Counter((f.id, f.severity.label) for f in findings)
        self._findings.replace({key: float(n) for key, n in counts.items()})
        self._node_findings.replace(
            {(f.node, f.id, f.severity.label): 1.0 for f in findings if f.node is not None}
        )
        states = Counter(n.status for n in report.nodes)
        self._nodes.replace(
            {
                (state,): float(states.get(state, 0))
                for state in ("OK", *(s.name.capitalize() for s in Severity), "Unmanaged")
            }
        )
        capacities = [c for c in (report.ipv4, report.ipv6) if c is not None]
        self._subnets.replace(
            {
                (_family(c), state): float(value)
                for c in capacities
                for state, value in (
                    ("capacity", c.subnets),
                    ("allocated", c.allocated),
                    ("free", c.free),
                )
            }
        )
        self._network_utilization.replace({(_family(c),): c.utilization for c in capacities})
        self._node_utilization.replace(
            {
                (n.name, family): usage.utilization
                for n in report.managed_nodes
                for family, usage in (("ipv4", n.subnet.ipv4), ("ipv6", n.subnet.ipv6))
                if usage is not None
            }
        )
        metrics.NETCONF_VALID.set(1.0 if report.net_conf.conf is not None else 0.0)


def _family(capacity: FamilyCapacity) -> str:
    return f"ipv{capacity.network.version}"
