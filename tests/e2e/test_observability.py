"""Every PromQL expression of the shipped dashboard and alert rules, run against the dev
cluster's real Prometheus while it scrapes the running operator's /metrics."""

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
from podpilot_dev.manifests import file_sd_target

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


def test_dashboard_and_rule_expressions_run_on_real_prometheus(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, cluster: ClusterState,
    scraped_operator: str,
) -> None:  # fmt: skip
    put_series(cluster, "podpilot_e2e_observability_load", {"namespace": namespace}, 30)
    query = f'sum(podpilot_e2e_observability_load{{namespace="{namespace}"}})'
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, behavior=FAST_SCALE_DOWN,
                   metrics=[prometheus_metric("main", query, average_value="10")]),
        # A metric source error of our own, so the error panels have data.
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
