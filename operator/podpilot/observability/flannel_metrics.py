"""``podpilot_flannel_*`` metrics of the flannel reporter.

Labels are bounded: ``finding`` by the catalogue, ``severity``/``state``/``family`` by enums, and
``node`` by the cluster's node count (only on series that exist while a node is in trouble, or one
utilization series per managed node and family). Series of nodes and findings that went away are
removed, never left at a stale value.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

from podpilot.observability.registry import REGISTRY

FINDINGS = Gauge(
    "podpilot_flannel_findings",
    "Active flannel findings by ID and severity (cluster and node level).",
    ["finding", "severity"],
    registry=REGISTRY,
)
NODE_FINDING = Gauge(
    "podpilot_flannel_node_finding",
    "1 while the finding is active on the node.",
    ["node", "finding", "severity"],
    registry=REGISTRY,
)
NODES = Gauge(
    "podpilot_flannel_nodes",
    "Reported nodes by state (OK, Info, Warning, Critical, Unmanaged).",
    ["state"],
    registry=REGISTRY,
)
NETWORK_SUBNETS = Gauge(
    "podpilot_flannel_network_subnets",
    "Node subnets of the cluster Network at the node mask.",
    ["family", "state"],
    registry=REGISTRY,
)
NETWORK_UTILIZATION = Gauge(
    "podpilot_flannel_network_subnet_utilization_ratio",
    "Allocated share of the cluster Network's node subnets.",
    ["family"],
    registry=REGISTRY,
)
NODE_UTILIZATION = Gauge(
    "podpilot_flannel_node_subnet_utilization_ratio",
    "Pod IPs in use / usable IPs of a managed node's subnet.",
    ["node", "family"],
    registry=REGISTRY,
)
NETCONF_VALID = Gauge(
    "podpilot_flannel_netconf_valid",
    "1 when net-conf.json was found and flanneld would accept it.",
    registry=REGISTRY,
)
RECONCILES = Counter(
    "podpilot_flannel_reconciles_total",
    "Recomputes of the flannel report, by result.",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "podpilot_flannel_reconcile_duration_seconds",
    "Time to compute the report from the in-memory inputs (excluding writes).",
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAST_RECONCILE_SECONDS = Gauge(
    "podpilot_flannel_last_reconcile_duration_seconds",
    "Duration of the last whole recompute: snapshot, compute, report writes, Events, metrics.",
    registry=REGISTRY,
)
LAST_RECONCILE = Gauge(
    "podpilot_flannel_last_reconcile_timestamp_seconds",
    "Unix time of the last successful recompute.",
    registry=REGISTRY,
)
REPORT_WRITES = Counter(
    "podpilot_flannel_report_writes_total",
    "API writes of report objects.",
    ["kind", "operation"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "podpilot_flannel_events_total",
    "Events about finding transitions, by outcome (posted, suppressed, failed).",
    ["outcome"],
    registry=REGISTRY,
)


class SeriesSet:
    """Sets a labelled gauge to exactly the given series, removing the ones that went away."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._present: set[tuple[str, ...]] = set()

    def replace(self, values: Mapping[tuple[str, ...], float]) -> None:
        for labels in self._present - values.keys():
            self._gauge.remove(*labels)
        for labels, value in values.items():
            self._gauge.labels(*labels).set(value)
        self._present = set(values)
