"""The dev cluster is a real cluster: scheduling, metrics APIs and the built-in HPA work."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.e2e import workloads
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev.cluster import ClusterState


def test_deployment_pods_run_on_kwok_nodes(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str, cluster: ClusterState
) -> None:
    workloads.apply(kubectl, namespace, workloads.deployment("web", 3))

    pods = wait_until(
        lambda: (
            len(workloads.ready_pods(kubectl_json, namespace, "web")) == 3
            and workloads.ready_pods(kubectl_json, namespace, "web")
        ),
        timeout=60,
        what="3 Running, Ready pods",
    )
    assert {pod["spec"]["nodeName"] for pod in pods} <= set(cluster.kwok_nodes)
    nodes = kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    for node in nodes:
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"].startswith("127.")


def test_metrics_api_follows_simulated_usage(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str
) -> None:
    workloads.apply(kubectl, namespace, workloads.deployment("busy", 2, usage_cpu="120m"))
    wait_until(
        lambda: len(workloads.ready_pods(kubectl_json, namespace, "busy")) == 2,
        timeout=60,
        what="2 ready pods",
    )

    def usage_millicores() -> list[int]:
        raw = kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
        items = json.loads(raw.stdout)["items"]
        return sorted(_millicores(item["containers"][0]["usage"]["cpu"]) for item in items)

    wait_until(
        lambda: (
            (values := usage_millicores())
            and len(values) == 2
            and all(110 <= v <= 130 for v in values)
        ),
        timeout=90,
        what="metrics.k8s.io to report about 120m per pod",
    )
    workloads.set_usage(kubectl, namespace, "busy", cpu="300m")
    wait_until(
        lambda: (values := usage_millicores()) and all(280 <= v <= 320 for v in values),
        timeout=90,
        what="metrics.k8s.io to follow the new usage of about 300m",
    )


def _millicores(quantity: str) -> int:
    if quantity.endswith("n"):
        return round(int(quantity[:-1]) / 1_000_000)
    if quantity.endswith("u"):
        return round(int(quantity[:-1]) / 1_000)
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


def test_custom_and_external_metrics_from_the_test_exporter(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str, cluster: ClusterState
) -> None:
    workloads.apply(kubectl, namespace, workloads.deployment("queue", 2))
    pods = wait_until(
        lambda: (
            len(workloads.ready_pods(kubectl_json, namespace, "queue")) == 2
            and workloads.ready_pods(kubectl_json, namespace, "queue")
        ),
        timeout=60,
        what="2 ready pods",
    )
    for index, pod in enumerate(pods):
        workloads.put_series(
            cluster,
            "podpilot_test_pod_requests_per_second",
            {"namespace": namespace, "pod": pod["metadata"]["name"]},
            10.0 + index,
        )
    workloads.put_series(
        cluster,
        "podpilot_test_external_queue_depth",
        {"namespace": namespace, "queue": "jobs"},
        42.0,
    )

    def custom_values() -> dict[str, str]:
        result = kubectl(
            "get",
            "--raw",
            f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/*/requests_per_second",
            check=False,
        )
        if result.returncode != 0:
            return {}
        return {
            i["describedObject"]["name"]: i["value"] for i in json.loads(result.stdout)["items"]
        }

    values = wait_until(
        lambda: len(custom_values()) == 2 and custom_values(),
        timeout=90,
        what="custom.metrics.k8s.io to serve the per-pod series",
    )
    assert sorted(values.values()) == ["10", "11"]

    def external_values() -> list[str]:
        result = kubectl(
            "get",
            "--raw",
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/queue_depth",
            check=False,
        )
        if result.returncode != 0:
            return []
        return [item["value"] for item in json.loads(result.stdout)["items"]]

    assert wait_until(external_values, timeout=90, what="external.metrics.k8s.io") == ["42"]


def test_helm_and_kubectl_from_the_built_tools(kubectl: Kubectl, cluster: ClusterState) -> None:
    import subprocess

    client_and_server = json.loads(kubectl("version", "-o", "json").stdout)
    assert client_and_server["clientVersion"]["gitVersion"] == "v1.36.3"
    assert client_and_server["serverVersion"]["gitVersion"] == "v1.36.3"
    helm = subprocess.run(
        [cluster.binaries["helm"], "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert helm.stdout.startswith("v3.21.4")
