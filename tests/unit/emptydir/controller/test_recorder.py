"""The operator's metrics are the loop's recorder, under the same metric names as before."""

from prometheus_client import CollectorRegistry

from podpilot.emptydir.controller.recorder import AuditRecorder
from podpilot.emptydir.engine.series import VOLUME_LABELS, GaugeValues
from podpilot.observability.emptydir_metrics import EmptyDirMetrics


def test_scan_and_cycle_durations_land_on_the_emptydir_gauges() -> None:
    registry = CollectorRegistry()
    recorder: AuditRecorder = EmptyDirMetrics(registry)
    recorder.observe_scan(0.25, 7)
    recorder.observe_cycle(1.5)
    assert registry.get_sample_value("podpilot_emptydir_scan_duration_seconds") == 0.25
    assert registry.get_sample_value("podpilot_emptydir_pods_audited") == 7
    assert registry.get_sample_value("podpilot_emptydir_cycle_duration_seconds") == 1.5


def evictions(registry: CollectorRegistry, reason: str) -> float | None:
    labels = {"namespace": "ns", "owner_kind": "Deployment", "owner": "web", "reason": reason}
    return registry.get_sample_value("podpilot_emptydir_evictions_total", labels)


def test_a_reported_workload_counts_evictions_from_zero_so_the_first_one_is_a_rise() -> None:
    registry = CollectorRegistry()
    metrics = EmptyDirMetrics(registry)
    workload = ("ns", "Deployment", "web")
    metrics.count_evictions([], [workload])
    assert evictions(registry, "emptydir") == 0.0  # scraped at 0 before any eviction
    metrics.count_evictions([(*workload, "emptydir")], [workload])
    assert evictions(registry, "emptydir") == 1.0
    metrics.count_evictions([], [])  # the workload's report went: so do its counters
    assert evictions(registry, "emptydir") is None


def test_a_replica_that_stops_auditing_drops_its_scan_but_keeps_its_counters() -> None:
    registry = CollectorRegistry()
    metrics = EmptyDirMetrics(registry)
    volume = ("ns", "Deployment", "web", "cache", "disk", "web-1", "node-a")
    metrics.publish(GaugeValues({"volume_used_bytes": {volume: 1024.0}}))
    metrics.observe_poll("node-a", "ok", 0.1, at=1.7e9)
    metrics.count_evictions([("ns", "Deployment", "web", "emptydir")], [volume[:3]])
    metrics.forget_scan()
    volume_labels = dict(zip(VOLUME_LABELS, volume, strict=True))
    assert registry.get_sample_value("podpilot_emptydir_volume_used_bytes", volume_labels) is None
    last_read = "podpilot_emptydir_kubelet_stats_last_success_timestamp_seconds"
    assert registry.get_sample_value(last_read, {"node": "node-a"}) is None
    assert evictions(registry, "emptydir") == 1.0
