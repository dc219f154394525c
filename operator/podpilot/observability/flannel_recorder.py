"""The flannel reporter's recorder: sets the ``podpilot_flannel_*`` metrics.

``podpilot.app.flannel`` hands it to the controller, which knows it only as
``podpilot.flannel.controller.recorder.Recorder``.
"""

from __future__ import annotations

from collections import Counter

from podpilot.flannel.engine.cluster import FamilyCapacity
from podpilot.flannel.engine.findings import Severity
from podpilot.flannel.engine.report import NetworkReport
from podpilot.observability import flannel_metrics as metrics


class FlannelMetricsRecorder:
    def __init__(self) -> None:
        self._findings = metrics.SeriesSet(metrics.FINDINGS)
        self._node_findings = metrics.SeriesSet(metrics.NODE_FINDING)
        self._nodes = metrics.SeriesSet(metrics.NODES)
        self._subnets = metrics.SeriesSet(metrics.NETWORK_SUBNETS)
        self._network_utilization = metrics.SeriesSet(metrics.NETWORK_UTILIZATION)
        self._node_utilization = metrics.SeriesSet(metrics.NODE_UTILIZATION)

    def record_report(self, report: NetworkReport) -> None:
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

    def forget_report(self) -> None:
        for series in (
            self._findings,
            self._node_findings,
            self._nodes,
            self._subnets,
            self._network_utilization,
            self._node_utilization,
        ):
            series.replace({})

    def compute_took(self, seconds: float) -> None:
        metrics.RECONCILE_SECONDS.observe(seconds)

    def reconcile_succeeded(self, at: float, total_seconds: float) -> None:
        metrics.RECONCILES.labels("ok").inc()
        metrics.LAST_RECONCILE.set(at)
        metrics.LAST_RECONCILE_SECONDS.set(total_seconds)

    def reconcile_failed(self) -> None:
        metrics.RECONCILES.labels("error").inc()

    def report_written(self, kind: str, operation: str) -> None:
        metrics.REPORT_WRITES.labels(kind, operation).inc()

    def events(self, outcome: str, count: int = 1) -> None:
        metrics.EVENTS.labels(outcome).inc(count)


def _family(capacity: FamilyCapacity) -> str:
    return f"ipv{capacity.network.version}"
