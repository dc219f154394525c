"""The dashboard and alert rules the chart ships: well-formed, complete, valid for promtool,
and rendered by ``helm template`` into a ConfigMap and a PrometheusRule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from tests.chart_render import PROMETHEUS_OPERATOR_APIS, built_tool, helm_runner, renderer
from tests.observability_assets import (
    CHART,
    DASHBOARDS,
    RULE_FILES,
    dashboard_expressions,
    promtool,
    requires_promtool,
    rule_expressions,
)

ALERTS = {
    "PodpilotOperatorAbsent",
    "PodpilotNoLeader",
    "PodpilotSeveralLeaders",
    "PodpilotShardsUnheld",
    "PodpilotMetricSourceFailing",
    "PodpilotAutoscalerStuckAtMax",
    "PodpilotAutoscalerFallbackActive",
    "PodpilotEvaluationsFallingBehind",
    "PodpilotAutoscalerHeldBack",
    "PodpilotEmptyDirVolumeNearLimit",
    "PodpilotEmptyDirVolumeFillingUp",
    "PodpilotEmptyDirEvictions",
    "PodpilotEmptyDirKubeletStatsStale",
    "PodpilotFlannelNetworkNearlyFull",
    "PodpilotFlannelNodeSubnetNearlyFull",
    "PodpilotFlannelCriticalFinding",
    "PodpilotFlannelNetConfInvalid",
    "PodpilotFlannelReportStale",
}
RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks.md"
RUNBOOK_URL = "https://github.com/podpilot/podpilot/blob/main/docs/runbooks.md#"
RULE_TESTS = sorted((Path(__file__).parent / "prometheus_rules").glob("*.test.yaml"))


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    assert DASHBOARDS, "no dashboard in helm/podpilot/dashboards"
    expressions = "\n".join(dashboard_expressions().values())
    for series in (
        "podpilot_autoscaler_current_replicas",
        "podpilot_autoscaler_desired_replicas",
        "podpilot_autoscaler_max_replicas",
        "podpilot_autoscaler_metric_value",
        "podpilot_autoscaler_metric_target",
        "podpilot_autoscaler_evaluations_total",
        "podpilot_metric_source_errors_total",
        "podpilot_metric_source_request_duration_seconds_bucket",
        "podpilot_autoscaler_evaluation_duration_seconds_bucket",
        "podpilot_autoscaler_reaction_seconds_bucket",
        "podpilot_autoscaler_limited",
    ):
        assert series in expressions, series
    for path in DASHBOARDS:
        document = json.loads(path.read_text())
        ids = [panel["id"] for panel in document["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"


def all_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_the_rules_hold_every_alert_each_with_a_summary_and_description() -> None:
    rules = all_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    assert all(
        rule["annotations"]["summary"] and rule["annotations"]["description"] for rule in rules
    )
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules)
    assert len(rule_expressions()) == len(rules)


def test_every_alert_links_its_own_runbook_section() -> None:
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in all_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == RUNBOOK_URL + rule["alert"].lower(), url
        assert rule["alert"].lower() in headings, f"docs/runbooks.md has no ## {rule['alert']}"


@requires_promtool
def test_promtool_accepts_the_rules() -> None:
    promtool("check", "rules", *map(str, RULE_FILES))


@requires_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    promtool("test", "rules", *map(str, RULE_TESTS))


def helm_template(home: Path, *values: str) -> list[dict[str, Any]]:
    """The chart rendered for a cluster that serves prometheus-operator's APIs."""
    render = renderer(helm_runner(built_tool("helm"), home))
    return render(*PROMETHEUS_OPERATOR_APIS, *values)


def test_helm_renders_the_dashboard_rules_and_service_monitor(tmp_path: Path) -> None:
    docs = helm_template(
        tmp_path,
        "--set=metrics.dashboards.enabled=true",
        "--set=metrics.prometheusRule.enabled=true",
        "--set=metrics.serviceMonitor.enabled=true",
    )
    kinds = {doc["kind"]: doc for doc in docs if doc["kind"] != "ConfigMap"}
    rule = kinds["PrometheusRule"]
    rendered = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert rendered == ALERTS
    monitor = kinds["ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True  # the Autoscaler's namespace wins over the target's
    assert monitor["metadata"]["namespace"] == "ops"
    assert not {"relabelings", "metricRelabelings"} & endpoint.keys()
    assert "targetLabels" not in monitor["spec"]
    dashboards = [
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].endswith("-dashboards")
    ]
    assert len(dashboards) == 1
    for path in DASHBOARDS:
        assert json.loads(dashboards[0]["data"][path.name]) == json.loads(path.read_text())


def test_helm_leaves_them_out_by_default(tmp_path: Path) -> None:
    kinds = {doc["kind"] for doc in helm_template(tmp_path)}
    assert not {"PrometheusRule", "ServiceMonitor"} & kinds


def test_helm_renders_the_service_monitor_values(tmp_path: Path) -> None:
    values = CHART.parents[1] / "tests" / "data" / "chart-values" / "good"
    path = values / "servicemonitor-relabelings.yaml"
    (monitor,) = [
        doc for doc in helm_template(tmp_path, "-f", str(path)) if doc["kind"] == "ServiceMonitor"
    ]
    given = yaml.safe_load(path.read_text())["metrics"]["serviceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}  # the Service's
    assert monitor["spec"]["targetLabels"] == given["targetLabels"]
    assert endpoint["relabelings"] == given["relabelings"]
    assert endpoint["metricRelabelings"] == given["metricRelabelings"]
    assert endpoint["honorLabels"] is True
    off = helm_template(tmp_path, "--set=metrics.serviceMonitor.enabled=true",
                        "--set=metrics.serviceMonitor.honorLabels=false")  # fmt: skip
    (monitor,) = [doc for doc in off if doc["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is False
