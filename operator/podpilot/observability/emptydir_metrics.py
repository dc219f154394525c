"""The ``podpilot_emptydir_*`` metrics, on the operator's registry.

:class:`EmptyDirMetrics` is the :class:`~podpilot.emptydir.controller.recorder.AuditRecorder`
that :mod:`podpilot.app.emptydir` hands to the emptyDir controller.

Gauges are rewritten from each scan: a label set that a scan no longer produces (its pod, workload
or node went away, or its value became unknown) is removed by its exact labels, never by partial
match. Node-labelled series are removed when the node leaves the cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from podpilot.emptydir.engine.series import (
    EFFECTIVE_LIMIT_LABELS,
    EVICTION_FINDINGS,
    EVICTIONS_LABELS,
    FINDINGS_LABELS,
    TMPFS_LABELS,
    VOLUME_LABELS,
    VOLUMES_LABELS,
    GaugeValues,
    Labels,
)
from podpilot.observability.registry import REGISTRY

PREFIX = "podpilot_emptydir_"

_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "volume_used_bytes": ("usedBytes of the emptyDir from the kubelet Summary API.", VOLUME_LABELS),
    "volume_size_limit_bytes": ("emptyDir.sizeLimit; absent when unset.", VOLUME_LABELS),
    "volume_effective_limit_bytes": (
        "The smallest limit that bounds the volume, and which one it is.",
        EFFECTIVE_LIMIT_LABELS,
    ),
    "volume_utilization_ratio": ("usedBytes / effective limit.", VOLUME_LABELS),
    "volume_inodes_used": ("Inodes used by the volume.", VOLUME_LABELS),
    "volume_time_to_limit_seconds": (
        "Projected seconds until the effective limit at the current growth rate.",
        VOLUME_LABELS,
    ),
    "tmpfs_size_bytes": ("Expected and observed size of a memory-backed volume.", TMPFS_LABELS),
    "volumes": ("emptyDir volumes by medium and stats freshness.", VOLUMES_LABELS),
    "findings": ("Current audit findings.", FINDINGS_LABELS),
}

_NODE_LABELS = ("node",)
EVICTION_REASONS = tuple(sorted(set(EVICTION_FINDINGS.values())))


class EmptyDirMetrics:
    """The metric objects and the label sets each currently has."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauges = {
            name: Gauge(PREFIX + name, doc, labels, registry=registry)
            for name, (doc, labels) in _GAUGES.items()
        }
        self.evictions = Counter(
            PREFIX + "evictions_total",
            "Pods evicted by the kubelet, by the check that fired.",
            EVICTIONS_LABELS,
            registry=registry,
        )
        self.requests = Counter(
            PREFIX + "kubelet_stats_requests_total",
            "Polls of the kubelet's Summary API (/stats/summary) by outcome (ok, forbidden, "
            "timeout, tls, error, decode, skipped).",
            ["outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            PREFIX + "kubelet_stats_request_duration_seconds",
            "Duration of Summary API requests (all nodes: a histogram per node would be "
            "nodes x buckets series).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.last_success = Gauge(
            PREFIX + "kubelet_stats_last_success_timestamp_seconds",
            "When the node's Summary was last read.",
            _NODE_LABELS,
            registry=registry,
        )
        self.scan_seconds = Gauge(
            PREFIX + "scan_duration_seconds", "Duration of the last full scan.", registry=registry
        )
        self.cycle_seconds = Gauge(
            PREFIX + "cycle_duration_seconds",
            "Duration of the last whole cycle: polls, owner lookups, scan, report writes.",
            registry=registry,
        )
        self.pods_audited = Gauge(
            PREFIX + "pods_audited", "Pods audited by the last full scan.", registry=registry
        )
        self._current: dict[str, set[Labels]] = {name: set() for name in self.gauges}
        self._eviction_labels: set[Labels] = set()
        self._nodes: set[str] = set()

    def publish(self, values: GaugeValues) -> None:
        """Set every gauge to this scan's values and drop the label sets it no longer has."""
        for name, gauge in self.gauges.items():
            series = values.values.get(name, {})
            for labels, value in series.items():
                gauge.labels(*labels).set(value)
            for gone in self._current[name] - set(series):
                gauge.remove(*gone)
            self._current[name] = set(series)

    def observe_scan(self, seconds: float, pods_audited: int) -> None:
        """The duration of the last full scan and the pods it audited."""
        self.scan_seconds.set(seconds)
        self.pods_audited.set(pods_audited)

    def observe_cycle(self, seconds: float) -> None:
        """The duration of the last whole cycle."""
        self.cycle_seconds.set(seconds)

    def count_evictions(self, label_sets: Iterable[Labels], workloads: Collection[Labels]) -> None:
        """Count new evictions; drop the counters of workloads that have no report any more.

        Every reported workload has its counters from 0 on, one per reason: ``increase()``
        sees no rise in a series whose first sample is already 1, so an alert on it would
        miss the first eviction of a workload."""
        for workload in workloads:
            for reason in EVICTION_REASONS:
                labels = (*workload, reason)
                if labels not in self._eviction_labels:
                    self.evictions.labels(*labels)
                    self._eviction_labels.add(labels)
        for labels in label_sets:
            self.evictions.labels(*labels).inc()
            self._eviction_labels.add(labels)
        for gone in [k for k in self._eviction_labels if k[:3] not in workloads]:
            self.evictions.remove(*gone)
            self._eviction_labels.discard(gone)

    def observe_poll(self, node: str, outcome: str, seconds: float | None, at: float) -> None:
        """Record one Summary poll (``at``: wall-clock seconds of a success)."""
        self.requests.labels(outcome).inc()
        self._nodes.add(node)
        if seconds is not None:
            self.request_seconds.observe(seconds)
        if outcome == "ok":
            self.last_success.labels(node).set(at)

    def forget_scan(self) -> None:
        """This replica stopped auditing (it stands by, or the policy went): drop the scan's
        gauges and the nodes' read times, so that no alert or dashboard reads a stale scan
        beside the acting replica's. The eviction counters stay: counters only grow."""
        self.publish(GaugeValues({}))
        self.forget_nodes(())

    def forget_nodes(self, present: Collection[str]) -> None:
        """Remove the series of nodes that left the cluster."""
        for node in self._nodes - set(present):
            with contextlib.suppress(KeyError):  # only nodes that were read once have one
                self.last_success.remove(node)
            self._nodes.discard(node)


@cache
def emptydir_metrics() -> EmptyDirMetrics:
    """The process-wide instance, registered on :data:`REGISTRY` on first use."""
    return EmptyDirMetrics(REGISTRY)
