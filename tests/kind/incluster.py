"""What the kind tests share: real workloads from the cluster's own images, and queries to the
in-cluster Prometheus through the API server's service proxy (so the test process dials only
the API server on 127.0.0.1, never a Service or pod address)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev.kind import images
from podpilot_dev.kind.addons import cpuburn, prometheus
from podpilot_dev.kind.addons.common import Document

PROMETHEUS_PROXY = (
    f"/api/v1/namespaces/{prometheus.NAMESPACE}/services/{prometheus.NAME}:{prometheus.PORT}/proxy"
)


def image(name: str) -> str:
    """The reference of an in-cluster image ``kind up`` built and loaded (a cache hit here)."""
    return images.build_all([name], report=lambda _line: None)[name].reference


def burner(name: str, namespace: str, millicores: int, cpu_request: str = "200m") -> list[Document]:
    return cpuburn.workload(name, namespace, image("cpuburn"), millicores, cpu_request)


def apply_documents(kubectl: Kubectl, documents: list[Document]) -> None:
    kubectl(
        "apply", "--server-side", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents)
    )


def query(kubectl: Kubectl, expr: str) -> dict[str, Any]:
    """One instant query; the body Prometheus returned (``status`` says whether it ran)."""
    path = f"{PROMETHEUS_PROXY}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    result = kubectl("get", "--raw", path, check=False)
    if result.returncode != 0:
        return {"status": "error", "error": result.stderr.strip()}
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def series(kubectl: Kubectl, expr: str) -> list[dict[str, Any]]:
    body = query(kubectl, expr)
    assert body.get("status") == "success", body
    found: list[dict[str, Any]] = body["data"]["result"]
    return found


def wait_series(
    kubectl: Kubectl, expr: str, what: str, timeout: float = 90
) -> list[dict[str, Any]]:
    return wait_until(lambda: series(kubectl, expr), timeout=timeout, what=what)


def spec_replicas(kubectl_json: Callable[..., Any], namespace: str, name: str) -> int:
    scale = kubectl_json("get", "deployment", name, "-n", namespace)
    replicas: int = scale["spec"]["replicas"]
    return replicas


def wait_replicas(
    kubectl_json: Callable[..., Any], namespace: str, name: str, count: int, timeout: float = 120
) -> None:
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, name) == count,
        timeout=timeout,
        what=f"Deployment {namespace}/{name} scaled to {count}",
    )
