"""The dev cluster's Prometheus configuration: valid for promtool, and a job that scrapes like
prometheus-operator with the chart's ServiceMonitor (target labels from Kubernetes metadata,
the series' own labels winning)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from tests.observability_assets import promtool, requires_promtool

from podpilot_dev.manifests import (
    SERVICE_MONITOR_TARGETS,
    prometheus_configuration,
    service_monitor_target,
)


def test_the_service_monitor_job_honors_labels_and_sets_the_target_labels(tmp_path: Path) -> None:
    document = yaml.safe_load(prometheus_configuration(9100, tmp_path))
    (job,) = [c for c in document["scrape_configs"] if c["job_name"] == "podpilot-service-monitor"]
    assert job["honor_labels"] is True
    assert job["file_sd_configs"][0]["files"] == [
        str(tmp_path / SERVICE_MONITOR_TARGETS / "*.json")
    ]
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "service", "job", "endpoint"} <= targets
    (target,) = json.loads(service_monitor_target(9808, "ops", "podpilot-0", "podpilot-metrics"))
    assert target["targets"] == ["127.0.0.1:9808"]
    assert target["labels"]["__meta_kubernetes_namespace"] == "ops"


@requires_promtool
def test_promtool_accepts_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus_configuration(9100, tmp_path / "targets"))
    promtool("check", "config", str(path))
