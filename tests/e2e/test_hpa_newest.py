"""The newest upstream HPA behaviours on the dev cluster (issue #21, part 3): observedGeneration
on the status and every condition, a spec change evaluated at once (not a period later) without
buying a larger step, the ScaledToZero condition (the Autoscaler's own zero against someone
else's), and the "why not scaling" gauge on the operator's /metrics.

Every Autoscaler here reads a Prometheus query over a series of the test exporter, which the
dev cluster's Prometheus scrapes every 2 s, so its metric is what the test sets.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.test_autoscaler import Json, condition, status_of, wait_reason, wait_replicas
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    deployment,
    put_series,
    spec_replicas,
)

from podpilot.apimachinery.timestamps import parse_time
from podpilot_dev.cluster import ClusterState

SERIES = "podpilot_e2e_newest_load"
LONG_PERIOD = 120  # seconds: an evaluation within a quarter of it is not the periodic one


def load(cluster: ClusterState, namespace: str, value: float, app: str = "web") -> str:
    """Set the load series of ``app`` and return the query that reads it."""
    put_series(cluster, SERIES, {"namespace": namespace, "app": app}, value)
    return f'sum({SERIES}{{namespace="{namespace}",app="{app}"}})'


def generation(kubectl_json: Json, namespace: str, name: str = "web") -> int:
    found: int = kubectl_json("get", "autoscaler", name, "-n", namespace)["metadata"]["generation"]
    return found


def observed_generations(kubectl_json: Json, namespace: str) -> tuple[Any, list[Any]]:
    """status.observedGeneration and each condition's observedGeneration."""
    status = status_of(kubectl_json, namespace)
    return status.get("observedGeneration"), [
        item.get("observedGeneration") for item in status.get("conditions", [])
    ]


def wait_observed(kubectl_json: Json, namespace: str, wanted: int, timeout: float) -> float:
    """Wait until the status and every condition say ``wanted``; return the seconds it took."""
    began = time.monotonic()

    def caught_up() -> bool:
        status, conditions = observed_generations(kubectl_json, namespace)
        return status == wanted and bool(conditions) and all(c == wanted for c in conditions)

    wait_until(caught_up, timeout=timeout, interval=0.5,
               what=f"status and conditions at observedGeneration {wanted}")  # fmt: skip
    return time.monotonic() - began


def patch_spec(kubectl: Kubectl, namespace: str, spec: dict[str, Any]) -> None:
    kubectl("patch", "autoscaler", "web", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": spec}))  # fmt: skip


def test_a_new_autoscaler_and_a_spec_change_are_evaluated_at_once_with_observed_generation(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    query = load(cluster, namespace, 30)  # against an average of 10: 3 replicas
    apply(kubectl, namespace, prometheus_server("main", cluster.prometheus_url),
          deployment("web", 1))  # fmt: skip
    created = time.monotonic()
    apply(
        kubectl,
        namespace,
        autoscaler("web", "web", min_replicas=1, max_replicas=6,
                   metrics=[prometheus_metric("main", query, average_value="10")],
                   evaluationPeriodSeconds=LONG_PERIOD),
    )  # fmt: skip
    assert generation(kubectl_json, namespace) == 1
    wait_observed(kubectl_json, namespace, 1, timeout=60)
    first = time.monotonic() - created
    assert first < LONG_PERIOD / 4, f"first evaluation {first:.0f} s after creation"
    wait_replicas(kubectl_json, namespace, 3, timeout=90)

    # A spec change: the next evaluation is not the periodic one, up to 120 s away.
    patch_spec(kubectl, namespace, {"maxReplicas": 2})
    edited = time.monotonic()
    assert generation(kubectl_json, namespace) == 2
    took = wait_observed(kubectl_json, namespace, 2, timeout=60)
    assert took < LONG_PERIOD / 4, f"spec change evaluated {took:.0f} s later"
    # And the new spec is what it decided on: above the new maxReplicas, reset at once.
    wait_replicas(kubectl_json, namespace, 2, timeout=30)
    assert time.monotonic() - edited < LONG_PERIOD / 2
    assert status_of(kubectl_json, namespace)["desiredReplicas"] == 2


def test_spec_edits_do_not_buy_a_larger_step_than_the_scale_up_policy(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    query = load(cluster, namespace, 50)  # wants 5
    one_pod = {"type": "Pods", "value": 1, "periodSeconds": 60}
    one_pod_a_minute = {"stabilizationWindowSeconds": 0, "policies": [one_pod]}
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        autoscaler("web", "web", min_replicas=1, max_replicas=8,
                   metrics=[prometheus_metric("main", query, average_value="10")],
                   behavior={"scaleUp": one_pod_a_minute}),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 2, timeout=90)
    stepped = time.monotonic()
    # Five edits, each evaluated at once; the policy still allows one pod per minute.
    for index in range(5):
        patch_spec(kubectl, namespace, {"maxReplicas": 8 + index % 2})
        wait_observed(kubectl_json, namespace, generation(kubectl_json, namespace), timeout=20)
        assert spec_replicas(kubectl_json, namespace, "web") == 2
        time.sleep(1)
    while time.monotonic() - stepped < 45:
        assert spec_replicas(kubectl_json, namespace, "web") == 2, "a step inside the period"
        time.sleep(1)
    limited = condition(status_of(kubectl_json, namespace), "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "ScaleUpLimit")
    wait_replicas(kubectl_json, namespace, 3, timeout=60)  # the next period's step


def test_scaled_to_zero_by_a_person_is_not_the_autoscalers_zero(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    query = load(cluster, namespace, 20)  # wants 2
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 2),
        autoscaler("web", "web", min_replicas=1, max_replicas=4,
                   metrics=[prometheus_metric("main", query, average_value="10")]),
    )  # fmt: skip
    wait_until(
        lambda: status_of(kubectl_json, namespace).get("targets") == "10/10 (avg)",
        timeout=60,
        what="the metric read",
    )
    # minReplicas 1 and replicas: nothing to say about zero.
    assert condition(status_of(kubectl_json, namespace), "ScaledToZero") == {}

    kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=0")
    found = wait_reason(kubectl_json, namespace, "ScaledToZero", "ExternallyScaledToZero",
                        timeout=30, what="the person's zero reported")  # fmt: skip
    assert found["status"] == "False"
    assert condition(status_of(kubectl_json, namespace), "ScalingActive")["reason"] == (
        "ScalingDisabled"
    )
    time.sleep(10)  # as the HPA: a person's zero is left alone while minReplicas is not 0
    assert spec_replicas(kubectl_json, namespace, "web") == 0


def test_scaled_to_zero_by_the_autoscaler_is_its_own_across_a_restart_until_it_wakes(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    query = load(cluster, namespace, 20)
    metric = prometheus_metric("main", query, average_value="10", activationThreshold="5")
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        autoscaler("web", "web", min_replicas=0, max_replicas=6, metrics=[metric],
                   behavior=FAST_SCALE_DOWN, cooldownSeconds=5),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 2)
    above = wait_reason(kubectl_json, namespace, "ScaledToZero", "AboveZero",
                        timeout=30, what="AboveZero with minReplicas 0")  # fmt: skip
    assert above["status"] == "False"

    load(cluster, namespace, 5)  # not above the activation threshold: to zero after cooldown
    wait_replicas(kubectl_json, namespace, 0, timeout=90)
    own = wait_reason(kubectl_json, namespace, "ScaledToZero", "ScaledToZero",
                      timeout=30, what="the Autoscaler's own zero reported")  # fmt: skip
    assert own["status"] == "True"

    # A restarted operator reads who set the zero back from the condition.
    operator.stop(kill=True)
    restarted = datetime.now(UTC).timestamp()
    operator.start()
    wait_until(
        lambda: (parse_time(status_of(kubectl_json, namespace)["lastDecision"]["evaluatedAt"])
                 or 0) >= restarted,
        timeout=120,
        what="a status written by the restarted operator (at the latest its heartbeat)",
    )  # fmt: skip
    kept = condition(status_of(kubectl_json, namespace), "ScaledToZero")
    assert (kept["status"], kept["reason"]) == ("True", "ScaledToZero")

    load(cluster, namespace, 30)  # active again: the Autoscaler wakes its own zero
    wait_replicas(kubectl_json, namespace, 3, timeout=60)
    woke = condition(status_of(kubectl_json, namespace), "ScaledToZero")
    assert woke["status"] == "False"
    assert woke["reason"] in ("ScaledFromZero", "AboveZero")


def limited_series(operator: OperatorProcess, namespace: str) -> dict[str, dict[str, float]]:
    """podpilot_autoscaler_limited of ``namespace`` on the operator's /metrics: by Autoscaler
    name, each reason's value."""
    with urllib.request.urlopen(operator.metrics_url, timeout=10) as response:
        text = response.read().decode()
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "podpilot_autoscaler_limited":
            continue
        for sample in family.samples:
            if sample.labels["namespace"] == namespace:
                found.setdefault(sample.labels["name"], {})[sample.labels["reason"]] = sample.value
    return found


REASONS = {
    "max_replicas", "min_replicas", "scale_up_policy", "scale_down_policy",
    "stabilization_window", "tolerance", "missing_metrics", "paused", "dry_run", "fallback",
    "scaling_disabled", "ambiguous_target",
}  # fmt: skip


def test_the_limited_gauge_on_metrics_names_what_holds_each_autoscaler_back(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    capped = load(cluster, namespace, 30, app="web")  # wants 3, maxReplicas 1
    held = load(cluster, namespace, 30, app="held")  # wants 3, paused
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        deployment("held", 1),
        autoscaler("web", "web", min_replicas=1, max_replicas=1,
                   metrics=[prometheus_metric("main", capped, average_value="10")]),
        autoscaler("held", "held", min_replicas=1, max_replicas=6, paused=True,
                   metrics=[prometheus_metric("main", held, average_value="10")]),
    )  # fmt: skip

    def both_held() -> dict[str, dict[str, float]] | None:
        series = limited_series(operator, namespace)
        web, paused = series.get("web", {}), series.get("held", {})
        return series if web.get("max_replicas") == 1 and paused.get("paused") == 1 else None

    series = wait_until(both_held, timeout=90, what="max_replicas for web, paused for held")
    assert series is not None
    # Every reason has a series; only the active ones are 1.
    assert set(series["web"]) == REASONS and set(series["held"]) == REASONS
    assert {r for r, v in series["web"].items() if v == 1} == {"max_replicas"}
    assert {r for r, v in series["held"].items() if v == 1} == {"paused"}
    limited = condition(status_of(kubectl_json, namespace), "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")
    assert spec_replicas(kubectl_json, namespace, "held") == 1

    # A deleted Autoscaler's series go with it.
    kubectl("delete", "autoscaler", "held", "-n", namespace)
    wait_until(lambda: "held" not in limited_series(operator, namespace), timeout=30,
               what="the deleted Autoscaler's series removed")  # fmt: skip
