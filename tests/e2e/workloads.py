"""Building blocks for e2e tests: KWOK Deployments with simulated usage, exporter series."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev.cluster import ClusterState


def deployment(
    name: str,
    replicas: int,
    *,
    cpu_request: str = "100m",
    memory_request: str = "128Mi",
    usage_cpu: str = "50m",
    usage_memory: str = "64Mi",
    containers: tuple[str, ...] = ("app",),
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {
                        "kwok.x-k8s.io/usage-cpu": usage_cpu,
                        "kwok.x-k8s.io/usage-memory": usage_memory,
                    },
                },
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "image": "registry.invalid/app:1",
                            "resources": {
                                "requests": {"cpu": cpu_request, "memory": memory_request}
                            },
                        }
                        for container in containers
                    ]
                },
            },
        },
    }


def apply(kubectl: Kubectl, namespace: str, *documents: Mapping[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(list(documents)))


def ready_pods(kubectl_json: Callable[..., Any], namespace: str, app: str) -> list[dict[str, Any]]:
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return [
        pod
        for pod in pods
        if pod["status"].get("phase") == "Running"
        and "deletionTimestamp" not in pod["metadata"]
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions", [])
        )
    ]


def wait_ready(kubectl_json: Callable[..., Any], namespace: str, app: str, count: int) -> None:
    wait_until(
        lambda: len(ready_pods(kubectl_json, namespace, app)) == count,
        timeout=90,
        what=f"{count} ready pods of {app}",
    )


def set_usage(kubectl: Kubectl, namespace: str, app: str, **usage: str) -> None:
    """Set simulated usage on every running pod, e.g. ``cpu="150m"`` or ``memory="300Mi"``."""
    annotations = [f"kwok.x-k8s.io/usage-{resource}={value}" for resource, value in usage.items()]
    kubectl("annotate", "pods", "-n", namespace, "-l", f"app={app}", "--overwrite", *annotations)


def spec_replicas(kubectl_json: Callable[..., Any], namespace: str, name: str) -> int:
    replicas: int = kubectl_json("get", "deployment", name, "-n", namespace)["spec"]["replicas"]
    return replicas


def put_series(cluster: ClusterState, name: str, labels: Mapping[str, str], value: float) -> None:
    """Set a series on the test exporter that Prometheus scrapes every 2 s."""
    body = json.dumps({"name": name, "labels": dict(labels), "value": value}).encode()
    request = urllib.request.Request(f"{cluster.exporter_url}/series", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def delete_series(cluster: ClusterState, labels: Mapping[str, str]) -> None:
    body = json.dumps({"labels": dict(labels)}).encode()
    request = urllib.request.Request(f"{cluster.exporter_url}/series", data=body, method="DELETE")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def autoscaler(
    name: str,
    target: str,
    *,
    min_replicas: int,
    max_replicas: int,
    metrics: list[dict[str, Any]],
    behavior: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": metrics,
        "evaluationPeriodSeconds": 5,
        **extra,
    }
    if behavior is not None:
        spec["behavior"] = behavior
    return {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "Autoscaler",
        "metadata": {"name": name},
        "spec": spec,
    }


def cpu_utilization(percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


FAST_SCALE_DOWN = {"scaleDown": {"stabilizationWindowSeconds": 0}}
