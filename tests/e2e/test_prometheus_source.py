"""The Prometheus metric type on the dev cluster, against real Prometheus servers.

The dev cluster's Prometheus scrapes the test exporter every 2 s; series are set with
``put_series``. Outages use a throwaway Prometheus of the test's own, never the shared one.
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.prometheus_helpers import (
    BearerProxy,
    ThrowawayPrometheus,
    prometheus_metric,
    prometheus_server,
)
from tests.e2e.test_autoscaler import (
    Json,
    condition,
    events,
    status_of,
    wait_reason,
    wait_replicas,
)
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    deployment,
    put_series,
    spec_replicas,
)

from podpilot_dev.cluster import ClusterState
from podpilot_dev.ports import free_port

SERIES = "podpilot_e2e_prometheus_load"


def load_query(namespace: str) -> str:
    return f'sum(podpilot_e2e_prometheus_load{{namespace="{namespace}"}})'


def test_query_scales_up_down_to_zero_and_back(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    labels = {"namespace": namespace, "shard": "a"}
    put_series(cluster, SERIES, labels, 20)
    metric = prometheus_metric(
        "main", load_query(namespace), average_value="10", activationThreshold="5"
    )
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 1),
        autoscaler("web", "web", min_replicas=0, max_replicas=6, metrics=[metric],
                   behavior=FAST_SCALE_DOWN, cooldownSeconds=5),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 2)
    # A second series of the same query is summed.
    put_series(cluster, SERIES, {**labels, "shard": "b"}, 20)
    wait_replicas(kubectl_json, namespace, 4)
    status = status_of(kubectl_json, namespace)
    assert status["currentMetrics"][0]["prometheus"]["serverRef"] == {"name": "main"}
    put_series(cluster, SERIES, {**labels, "shard": "b"}, 0)
    put_series(cluster, SERIES, labels, 8)
    wait_replicas(kubectl_json, namespace, 1)
    # At or below the activation threshold: to zero once the cooldown has passed.
    put_series(cluster, SERIES, labels, 5)
    wait_replicas(kubectl_json, namespace, 0, timeout=60)
    assert condition(status_of(kubectl_json, namespace), "Active")["status"] == "False"
    put_series(cluster, SERIES, labels, 30)
    wait_replicas(kubectl_json, namespace, 3, timeout=60)
    assert condition(status_of(kubectl_json, namespace), "Active")["status"] == "True"


def test_outage_holds_then_falls_back_and_recovers(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    put_series(cluster, SERIES, {"namespace": namespace}, 20)
    own = ThrowawayPrometheus(cluster.exporter_url)
    own.start()
    try:
        metric = prometheus_metric("own", load_query(namespace), average_value="10")
        apply(
            kubectl,
            namespace,
            prometheus_server("own", own.url),
            deployment("web", 2),
            autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[metric],
                       behavior=FAST_SCALE_DOWN,
                       fallback={"policy": "Static", "replicas": 5, "failureThreshold": 3}),
        )  # fmt: skip
        wait_until(
            lambda: status_of(kubectl_json, namespace).get("targets") == "10/10 (avg)",
            timeout=60,
            what="the metric read at its target through the throwaway Prometheus",
        )
        own.stop()
        wait_reason(
            kubectl_json, namespace, "ScalingActive", "FailedGetPrometheusMetric",
            timeout=30, what="the outage reported",
        )  # fmt: skip
        # Before the threshold: held, never scaled down.
        assert spec_replicas(kubectl_json, namespace, "web") == 2
        message = condition(status_of(kubectl_json, namespace), "ScalingActive")["message"]
        assert f"Prometheus server {namespace}/own" in message
        wait_replicas(kubectl_json, namespace, 5, timeout=60)
        fallback = condition(status_of(kubectl_json, namespace), "FallbackActive")
        assert (fallback["status"], fallback["reason"]) == ("True", "StaticFallback")
        assert events(kubectl_json, namespace, "FallbackActivated")
        own.start()
        wait_replicas(kubectl_json, namespace, 2, timeout=60)
        assert condition(status_of(kubectl_json, namespace), "FallbackActive")["status"] == "False"
        wait_until(
            lambda: events(kubectl_json, namespace, "FallbackDeactivated"),
            timeout=20,
            what="the FallbackDeactivated event",
        )
    finally:
        own.close()


def test_a_static_fallback_below_the_count_holds_unless_scale_down_is_allowed(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    put_series(cluster, SERIES, {"namespace": namespace}, 40)
    own = ThrowawayPrometheus(cluster.exporter_url)
    own.start()
    try:
        metric = prometheus_metric("own", load_query(namespace), average_value="10")
        apply(
            kubectl,
            namespace,
            prometheus_server("own", own.url),
            deployment("web", 1),
            autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[metric],
                       behavior=FAST_SCALE_DOWN,
                       fallback={"policy": "Static", "replicas": 1, "failureThreshold": 2}),
        )  # fmt: skip
        wait_replicas(kubectl_json, namespace, 4, timeout=60)
        own.stop()
        stopped = time.monotonic()
        wait_until(
            lambda: events(kubectl_json, namespace, "FallbackActivated"),
            timeout=60,
            what="the FallbackActivated event",
        )
        # 2 periods of 5 s of wall time from the first failure, which follows the stop.
        assert time.monotonic() - stopped >= 10
        status = status_of(kubectl_json, namespace)
        assert status["failingSince"]
        fallback = condition(status, "FallbackActive")
        assert (fallback["status"], fallback["reason"]) == ("True", "StaticFallback")
        assert "allowScaleDown is false" in fallback["message"]
        time.sleep(10)  # two more periods in fallback: still held
        assert spec_replicas(kubectl_json, namespace, "web") == 4
        kubectl("patch", "autoscaler", "web", "-n", namespace, "--type=merge",
                "-p", '{"spec": {"fallback": {"allowScaleDown": true}}}')  # fmt: skip
        wait_replicas(kubectl_json, namespace, 1, timeout=60)
    finally:
        own.close()


def test_empty_result_is_an_error_unless_configured_as_zero(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    query = f'sum(podpilot_e2e_never_exported{{namespace="{namespace}"}})'
    apply(
        kubectl,
        namespace,
        prometheus_server("main", cluster.prometheus_url),
        deployment("web", 3),
        deployment("quiet", 3),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, behavior=FAST_SCALE_DOWN,
                   metrics=[prometheus_metric("main", query, value="10")]),
        autoscaler("quiet", "quiet", min_replicas=1, max_replicas=6, behavior=FAST_SCALE_DOWN,
                   metrics=[prometheus_metric("main", query, value="10", emptyResult="Zero")]),
    )  # fmt: skip
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "quiet") == 1,
        timeout=60,
        what="emptyResult Zero reading 0 and scaling down",
    )
    active = condition(status_of(kubectl_json, namespace, "web"), "ScalingActive")
    assert active["reason"] == "FailedGetPrometheusMetric"
    assert "no series" in active["message"]
    assert spec_replicas(kubectl_json, namespace, "web") == 3


def test_wrong_credentials_and_unreachable_servers_are_named_in_conditions(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    token = "e2e-right-token-4f1c"
    wrong = "e2e-wrong-token-9b7d"
    proxy = BearerProxy(cluster.prometheus_url, token)
    closed_port = free_port()  # bound once and released: nothing listens there
    put_series(cluster, SERIES, {"namespace": namespace}, 20)
    query = load_query(namespace)
    secrets: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
         "stringData": {"token": value}}
        for name, value in (("right", token), ("wrong", wrong))
    ]  # fmt: skip
    # The proxy is plain http on 127.0.0.1: credentials over it must be allowed explicitly.
    auth = {"auth": {"bearerTokenSecretRef": {"name": "right"}}, "allowInsecureHttp": True}
    wrong_ref = {"name": "wrong"}
    try:
        apply(
            kubectl,
            namespace,
            *secrets,
            prometheus_server("guarded", proxy.url, **auth),
            prometheus_server("refused", proxy.url, auth={"bearerTokenSecretRef": wrong_ref},
                              allowInsecureHttp=True),
            prometheus_server("down", f"http://127.0.0.1:{closed_port}"),
            *(deployment(name, 2) for name in ("ok", "badauth", "gone")),
            autoscaler("ok", "ok", min_replicas=1, max_replicas=6,
                       metrics=[prometheus_metric("guarded", query, average_value="5")]),
            autoscaler("badauth", "badauth", min_replicas=1, max_replicas=6,
                       metrics=[prometheus_metric("refused", query, average_value="5")]),
            autoscaler("gone", "gone", min_replicas=1, max_replicas=6,
                       metrics=[prometheus_metric("down", query, average_value="5")]),
        )  # fmt: skip
        wait_until(
            lambda: spec_replicas(kubectl_json, namespace, "ok") == 4,
            timeout=60,
            what="the right token accepted and the workload scaled",
        )

        def failure(name: str) -> dict[str, Any]:
            return condition(status_of(kubectl_json, namespace, name), "ScalingActive")

        wait_until(
            lambda: (
                failure("badauth").get("reason") == "FailedGetPrometheusMetric"
                and failure("gone").get("reason") == "FailedGetPrometheusMetric"
            ),
            timeout=60,
            what="both failures reported",
        )
        refused, down = failure("badauth")["message"], failure("gone")["message"]
        assert f"Prometheus server {namespace}/refused" in refused and "credentials" in refused
        assert f"Prometheus server {namespace}/down" in down and "cannot connect" in down
        assert f"Bearer {wrong}" in proxy.seen_authorization
        for name in ("badauth", "gone"):
            assert spec_replicas(kubectl_json, namespace, name) == 2
        texts = [str(status_of(kubectl_json, namespace, n)) for n in ("ok", "badauth", "gone")]
        texts += [
            e.get("message", "") for e in kubectl_json("get", "events", "-n", namespace)["items"]
        ]
        assert not [text for text in texts if token in text or wrong in text]
        assert token not in operator.log_tail(2000) and wrong not in operator.log_tail(2000)
        assert operator.healthy()
    finally:
        proxy.close()
