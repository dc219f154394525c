"""Journey 6: the operator installed by Helm, scraped by the in-cluster Prometheus (the way the
chart's ServiceMonitor would have it scraped), feeds every query of the shipped dashboards and
every alert rule, with the Autoscalers' own ``namespace`` label.

The test's Autoscalers make each autoscaler alert true for their namespace: ``web`` scales to
its maxReplicas and stays wanted there (PodpilotAutoscalerStuckAtMax), two Autoscalers on a
Prometheus server that does not exist fail every read and fall back
(PodpilotMetricSourceFailing, PodpilotAutoscalerFallbackActive). The alerts that only a broken
operator makes true (absent, no leader, falling behind) must have every series they read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, autoscaler
from tests.kind.incluster import apply_documents, burner, query, series, wait_replicas, wait_series
from tests.observability_assets import dashboard_expressions, rule_expressions

from podpilot_dev.kind import release
from podpilot_dev.kind.addons import prometheus

# Two metrics Services (the autoscaler's and the emptyDir audit's) in the release's namespace.
TARGETS_QUERY = f'count(up{{namespace="{release.NAMESPACE}"}})'
FIRING = (
    "PodpilotAutoscalerStuckAtMax",
    "PodpilotAutoscalerFallbackActive",
    "PodpilotMetricSourceFailing",
)
# The emptyDir audit's rules read volume series, which journey 4's workloads make.
CHECKED_RULE_FILES = ("podpilot-autoscaler.yaml", "podpilot-operator.yaml", "podpilot-flannel.yaml")
METRIC_NAME = re.compile(r"\b(podpilot_[a-z_]+)\b")


def _fires_for(result: list[dict[str, Any]], namespace: str) -> bool:
    """True when a series names the namespace, or (for alerts aggregated by metric source,
    which carry no namespace) when there is any series at all."""
    labelled = [s for s in result if "namespace" in s["metric"]]
    if not labelled:
        return bool(result)
    return any(s["metric"]["namespace"] == namespace for s in labelled)


def _broken(name: str) -> dict[str, Any]:
    return autoscaler(
        name, name, min_replicas=1, max_replicas=3,
        metrics=[prometheus_metric("absent", TARGETS_QUERY, average_value="1")],
        fallback={"policy": "Static", "replicas": 1, "failureThreshold": 1},
    )  # fmt: skip


def test_dashboards_and_alerts_have_data_for_the_autoscalers_namespace(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str
) -> None:
    for name in ("web", "broken-a", "broken-b"):
        apply_documents(kubectl, burner(name, namespace, millicores=0, cpu_request="10m"))
    apply(
        kubectl,
        namespace,
        prometheus_server("in-cluster", prometheus.URL),
        prometheus_server("absent", f"http://absent.{namespace}.svc:9090/"),
        # The query reads 2 against an averageValue of 1: it wants 2 replicas, its maximum.
        # minReplicas 0 with an activation threshold: its podpilot_autoscaler_active series.
        # Failing Autoscalers retry at up to twice their period (10 s): web reads every 15 s so
        # that the failing reads stay most of the source's reads (2/10 s against 1/15 s: 75 %),
        # as PodpilotMetricSourceFailing needs; at 5 s the two rates would be equal.
        autoscaler("web", "web", min_replicas=0, max_replicas=2, evaluationPeriodSeconds=15,
                   metrics=[prometheus_metric("in-cluster", TARGETS_QUERY, average_value="1",
                                              activationThreshold="1")]),
        _broken("broken-a"),
        _broken("broken-b"),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, "web", 2)
    ours = f'podpilot_autoscaler_desired_replicas{{namespace="{namespace}",name="web"}}'
    (found,) = wait_series(kubectl, ours, "the Autoscaler's series scraped in-cluster")
    # honor_labels: the Autoscaler's namespace, not the operator's, and no exported_ copy.
    assert found["metric"]["namespace"] == namespace, found
    assert not any(label.startswith("exported_") for label in found["metric"]), found
    wait_until(
        lambda: series(kubectl, f"count_over_time({ours}[1m]) >= 3"),
        timeout=60,
        what="enough scrapes for rate() over 1m",
    )

    failures = []
    for name, expr in dashboard_expressions().items():
        body = query(kubectl, expr)
        if body.get("status") != "success":
            failures.append(f"{name}: {body.get('error')}")
        elif name.startswith("podpilot-autoscaler.json") and not body["data"]["result"]:
            failures.append(f"{name}: no data for {expr}")
    for name, expr in rule_expressions().items():
        rule_file, alert = name.split()
        if rule_file not in CHECKED_RULE_FILES:
            continue
        if alert in FIRING:
            wait_until(
                lambda expr=expr: _fires_for(series(kubectl, expr), namespace),
                timeout=90,
                what=f"{alert} true for {namespace}",
            )
            continue
        body = query(kubectl, expr)
        if body.get("status") != "success":
            failures.append(f"{name}: {body.get('error')}")
        for metric in sorted(set(METRIC_NAME.findall(expr))):
            if not series(kubectl, f"count({metric})"):
                failures.append(f"{name}: no series of {metric}, which it reads")
    assert not failures, "\n".join(failures)
