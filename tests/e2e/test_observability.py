"""Every PromQL expression of the shipped dashboard and alert rules, run against the dev
cluster's real Prometheus while it scrapes the running operator's /metrics; and the labels
the dashboards and alerts read, when the operator is scraped as prometheus-operator scrapes
the chart's ServiceMonitor."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.test_autoscaler import Json, wait_replicas
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import FAST_SCALE_DOWN, apply, autoscaler, deployment, put_series
from tests.observability_assets import dashboard_expressions, rule_expressions

from podpilot_dev.cluster import ClusterState
from podpilot_dev.manifests import SERVICE_MONITOR_TARGETS, file_sd_target, service_monitor_target

# Panels whose expressions must return data once one Prometheus Autoscaler has scaled.
KEY_PANELS = (
    "Replicas vs desired vs bounds",
    "Metric value vs target",
    "Decisions by action",
    "Metric source errors",
    "Metric source latency",
    "Evaluation duration",
    "Reaction latency",
    "Seconds since last evaluation",
)


def instant(cluster: ClusterState, expr: str) -> dict[str, Any]:
    url = f"{cluster.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    return body


@pytest.fixture
def scraped_operator(cluster: ClusterState, operator: OperatorProcess) -> Iterator[str]:
    """The operator registered as a Prometheus target; yields its instance label."""
    path = cluster.prometheus_targets_dir / f"podpilot-e2e-operator-{operator.metrics_port}.json"
    path.write_text(file_sd_target("podpilot-e2e-operator", operator.metrics_port))
    yield f"127.0.0.1:{operator.metrics_port}"
    path.unlink(missing_ok=True)


def web_on_prometheus_load(
    kubectl: Kubectl, namespace: str, cluster: ClusterState, *, max_replicas: int
) -> str:
    """Deployment web (1 replica) and its Autoscaler on a Prometheus query whose value, 30
    against an averageValue of 10, wants 3 replicas; returns the query."""
    put_series(cluster, "podpilot_e2e_observability_load", {"namespace": namespace}, 30)
    query = f'sum(podpilot_e2e_observability_load{{namespace="{namespace}"}})'
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        autoscaler("web", "web", min_replicas=1, max_replicas=max_replicas,
                   behavior=FAST_SCALE_DOWN,
                   metrics=[prometheus_metric("main", query, average_value="10")]),
    )  # fmt: skip
    return query


def test_dashboard_and_rule_expressions_run_on_real_prometheus(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, cluster: ClusterState,
    scraped_operator: str,
) -> None:  # fmt: skip
    query = web_on_prometheus_load(kubectl, namespace, cluster, max_replicas=6)
    # A metric source error of our own, so the error panels have data.
    apply(
        kubectl,
        namespace,
        deployment("broken", 1),
        autoscaler("broken", "broken", min_replicas=1, max_replicas=6,
                   metrics=[prometheus_metric("absent", query, average_value="10")]),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 3)
    ours = (
        f'podpilot_autoscaler_metric_value{{namespace="{namespace}",instance="{scraped_operator}"}}'
    )
    wait_until(
        lambda: instant(cluster, ours)["data"]["result"],
        timeout=60,
        what="Prometheus scraping the operator's series for this namespace",
    )
    wait_until(
        lambda: instant(cluster, f"count_over_time({ours}[1m]) >= 3")["data"]["result"],
        timeout=30,
        what="enough scrapes for rate() over 1m",
    )
    failures = []
    for name, expr in {**dashboard_expressions(), **rule_expressions()}.items():
        body = instant(cluster, expr)
        if body.get("status") != "success":
            failures.append(f"{name}: {body.get('error')}")
        elif any(panel in name for panel in KEY_PANELS) and not body["data"]["result"]:
            failures.append(f"{name}: no data for {expr}")
    assert not failures, "\n".join(failures)


# The Kubernetes metadata prometheus-operator would attach to the operator's target.
OPERATOR_NAMESPACE = "podpilot-system"
OPERATOR_POD = "podpilot-6d5f8b7c9-x2x4z"
METRICS_SERVICE = "podpilot-e2e-metrics"


@pytest.fixture
def service_monitor_scrape(cluster: ClusterState, operator: OperatorProcess) -> Iterator[str]:
    """The operator as a target of the dev Prometheus' ``podpilot-service-monitor`` job, which
    relabels like a ServiceMonitor with ``honorLabels: true``; yields its job label."""
    directory = cluster.prometheus_targets_dir / SERVICE_MONITOR_TARGETS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"podpilot-e2e-operator-{operator.metrics_port}.json"
    path.write_text(
        service_monitor_target(operator.metrics_port, OPERATOR_NAMESPACE, OPERATOR_POD,
                               METRICS_SERVICE)
    )  # fmt: skip
    yield METRICS_SERVICE
    path.unlink(missing_ok=True)


def one_series(cluster: ClusterState, expr: str, what: str) -> dict[str, Any]:
    """The one series ``expr`` returns, once it returns any (within 90 s)."""
    wait_until(lambda: instant(cluster, expr)["data"]["result"], timeout=90, what=what)
    (series,) = instant(cluster, expr)["data"]["result"]
    found: dict[str, Any] = series
    return found


def label_values(cluster: ClusterState, label: str, match: str) -> list[str]:
    query = urllib.parse.urlencode({"match[]": match})
    url = f"{cluster.prometheus_url}/api/v1/label/{label}/values?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        values: list[str] = json.load(response)["data"]
    return values


def test_the_autoscalers_namespace_survives_prometheus_operator_target_labels(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, cluster: ClusterState,
    service_monitor_scrape: str,
) -> None:  # fmt: skip
    """With the target's namespace and pod attached (as prometheus-operator does), podpilot's
    own namespace label wins (honorLabels), so the dashboards' namespace variable offers the
    Autoscaler's namespace and the alerts name it."""
    # Pinned at maxReplicas 1 while its metric wants 3: PodpilotAutoscalerStuckAtMax's
    # expression holds for it.
    web_on_prometheus_load(kubectl, namespace, cluster, max_replicas=1)
    job = f'job="{service_monitor_scrape}"'
    ours = f'podpilot_autoscaler_desired_replicas{{{job},namespace="{namespace}",name="web"}}'
    series = one_series(cluster, ours, "the Autoscaler's series under the ServiceMonitor job")
    assert series["metric"]["pod"] == OPERATOR_POD  # the target's labels are there too
    assert "exported_namespace" not in series["metric"]
    # podpilot_build_info has no namespace of its own: it gets the target's.
    (build,) = instant(cluster, f"podpilot_build_info{{{job}}}")["data"]["result"]
    assert build["metric"]["namespace"] == OPERATOR_NAMESPACE

    # The dashboard's namespace variable, with $job and $instance at this target.
    variable = f'podpilot_autoscaler_current_replicas{{{job},instance=~".+"}}'
    assert namespace in label_values(cluster, "namespace", variable)
    assert "exported_namespace" not in json.dumps(instant(cluster, variable))

    # The alert's expression keeps the Autoscaler's namespace, which its text and hint print.
    stuck = rule_expressions()["podpilot-autoscaler.yaml PodpilotAutoscalerStuckAtMax"]
    at_max = f"({stuck}) and on (job, namespace, name) {ours}"
    alert = one_series(cluster, at_max, "PodpilotAutoscalerStuckAtMax's expression true")
    assert (alert["metric"]["namespace"], alert["metric"]["name"]) == (namespace, "web")
