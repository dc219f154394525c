"""Journey 3: an Autoscaler on a query of the in-cluster Prometheus scales a real service on
the request rate its clients send, down to zero when they stop and back when they return.

The clients are a cpuburn driver whose ``/metrics`` Prometheus scrapes (pod annotations); the
query counts every request it tries, answered or not, so the demand stays visible while the
service has no replica.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl
from tests.e2e.prometheus_helpers import prometheus_metric, prometheus_server
from tests.e2e.test_autoscaler import condition, status_of
from tests.e2e.workloads import FAST_SCALE_DOWN, apply, autoscaler
from tests.kind.incluster import apply_documents, image, wait_replicas, wait_series
from tests.kind.test_parity import set_rate

from podpilot_dev.kind.addons import cpuburn, prometheus

PER_REPLICA = 4  # requests a second one replica takes


def demand(namespace: str) -> str:
    return f'sum(rate(cpuburn_drive_requests_total{{namespace="{namespace}"}}[20s]))'


def test_scales_to_zero_when_the_clients_stop_and_back_when_they_return(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str
) -> None:
    burner = image("cpuburn")
    apply_documents(kubectl, cpuburn.server("web", namespace, burner, 5, "50m"))
    url = cpuburn.service_url("web", namespace)
    apply_documents(kubectl, cpuburn.driver("clients", namespace, burner, url, 10))
    metric = prometheus_metric(
        "in-cluster", demand(namespace), average_value=str(PER_REPLICA), activationThreshold="0.5"
    )
    apply(
        kubectl,
        namespace,
        prometheus_server("in-cluster", prometheus.URL),
        autoscaler("web", "web", min_replicas=0, max_replicas=4, metrics=[metric],
                   behavior=FAST_SCALE_DOWN, cooldownSeconds=10),
    )  # fmt: skip
    wait_series(kubectl, f"{demand(namespace)} > 8", "the clients' 10 requests/s in Prometheus")
    # 10 requests/s at 4 a replica: 3 replicas.
    wait_replicas(kubectl_json, namespace, "web", 3)
    status = status_of(kubectl_json, namespace)
    assert status["currentMetrics"][0]["prometheus"]["serverRef"] == {"name": "in-cluster"}

    set_rate(kubectl, namespace, "clients", 0)
    wait_replicas(kubectl_json, namespace, "web", 0, timeout=150)
    assert condition(status_of(kubectl_json, namespace), "Active")["status"] == "False"

    set_rate(kubectl, namespace, "clients", 6)
    wait_replicas(kubectl_json, namespace, "web", 2, timeout=150)
    assert condition(status_of(kubectl_json, namespace), "Active")["status"] == "True"
    # The service is back: both replicas Ready behind its Service.
    kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")
