"""The operator's metrics are the loop's recorder, under the same metric names as before."""

from prometheus_client import CollectorRegistry

from podpilot.emptydir.controller.recorder import AuditRecorder
from podpilot.observability.emptydir_metrics import EmptyDirMetrics


def test_scan_and_cycle_durations_land_on_the_emptydir_gauges() -> None:
    registry = CollectorRegistry()
    recorder: AuditRecorder = EmptyDirMetrics(registry)
    recorder.observe_scan(0.25, 7)
    recorder.observe_cycle(1.5)
    assert registry.get_sample_value("podpilot_emptydir_scan_duration_seconds") == 0.25
    assert registry.get_sample_value("podpilot_emptydir_pods_audited") == 7
    assert registry.get_sample_value("podpilot_emptydir_cycle_duration_seconds") == 1.5
