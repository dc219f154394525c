"""Parity with the built-in HPA: same manifest, same Deployment, same decisions and columns."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import yaml
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, deployment, spec_replicas, wait_ready

Json = Callable[..., Any]

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 8,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
    },
}
# Total simulated CPU spread over however many pods there are (so a fixed point exists, as with
# real load behind a Service), and the replica count both must settle on: ceil(total / 50m).
LOAD_STEPS = [(200, 4), (350, 7), (50, 2)]


def dry_run_twin(hpa: dict[str, Any]) -> dict[str, Any]:
    """The Autoscaler made from the HPA the way a user would: change apiVersion and kind."""
    twin = copy.deepcopy(hpa)
    twin["apiVersion"], twin["kind"] = "podpilot.io/v1alpha1", "Autoscaler"
    twin["spec"]["mode"] = "DryRun"
    twin["spec"]["evaluationPeriodSeconds"] = 5
    return twin


def spread_load(kubectl: Kubectl, kubectl_json: Json, namespace: str, total: int) -> None:
    """Give every pod an equal share of ``total`` millicores (only pods whose share changed)."""
    pods = [
        pod
        for pod in kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        if "deletionTimestamp" not in pod["metadata"]
    ]
    share = f"{total // max(len(pods), 1)}m"
    for pod in pods:
        if pod["metadata"].get("annotations", {}).get("kwok.x-k8s.io/usage-cpu") != share:
            kubectl("annotate", "pod", pod["metadata"]["name"], "-n", namespace, "--overwrite",
                    f"kwok.x-k8s.io/usage-cpu={share}")  # fmt: skip


def columns(kubectl: Kubectl, kind: str, namespace: str) -> dict[str, str]:
    header, row = kubectl("get", kind, "web", "-n", namespace).stdout.splitlines()[:2]
    starts = [header.index(name) for name in header.split()]
    bounds = [*starts[1:], None]
    return {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, bounds, strict=True)
    }


def test_dry_run_autoscaler_recommends_what_the_builtin_hpa_does(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, deployment("web", 2, usage_cpu="50m"), HPA, dry_run_twin(HPA))
    wait_ready(kubectl_json, namespace, "web", 2)

    def recommendations() -> tuple[int | None, int | None, int]:
        hpa = kubectl_json("get", "hpa", "web", "-n", namespace).get("status", {})
        ours = kubectl_json("get", "autoscaler", "web", "-n", namespace).get("status", {})
        return (
            hpa.get("desiredReplicas"),
            ours.get("desiredReplicas"),
            spec_replicas(kubectl_json, namespace, "web"),
        )

    for total_millicores, expected in LOAD_STEPS:

        def settled(total: int = total_millicores, want: int = expected) -> bool:
            spread_load(kubectl, kubectl_json, namespace, total)
            return recommendations() == (want, want, want)

        wait_until(
            settled,
            timeout=240,
            interval=2,
            what=f"HPA and Autoscaler to settle on {expected} replicas for {total_millicores}m",
        )

    compared = ("REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS")

    def same_columns() -> bool:
        hpa_columns = columns(kubectl, "hpa", namespace)
        our_columns = columns(kubectl, "autoscaler", namespace)
        assert our_columns["MODE"] == "DryRun"
        return all(our_columns[name] == hpa_columns[name] for name in compared)

    # Both write status on their own schedule, so wait for the two to show the same moment.
    wait_until(same_columns, timeout=60, what="kubectl get hpa and autoscaler to show the same")


def test_converted_manifest_explained(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    """``podpilot convert`` output is applied as is; ``podpilot explain`` tells the decision."""
    hpa = copy.deepcopy(HPA)
    converted = subprocess.run(
        [sys.executable, "-m", "podpilot", "convert", "-"],
        input=yaml.safe_dump(hpa),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    apply(kubectl, namespace, deployment("web", 2, usage_cpu="100m"))
    kubectl("apply", "-n", namespace, "-f", "-", input=converted)
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 4,
        timeout=90,
        what="the converted Autoscaler to scale 2 -> 4",
    )
    text = subprocess.run(
        [sys.executable, "-m", "podpilot", "explain", "-n", namespace, "web"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "KUBECONFIG": str(operator.cluster.kubeconfig)},
    ).stdout
    assert "Deployment/web" in text
    assert "cpu resource utilization (percentage of request)" in text
    assert "Rescaled" in text or "NoChange" in text
