"""Journey 1: podpilot installed by ``helm install`` into a namespace that enforces the
``restricted`` Pod Security Standard, its pods Ready, its CRDs usable with kubectl."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev.kind import release


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_the_release_runs_under_the_restricted_standard(
    kubectl_json: Callable[..., Any],
) -> None:
    labels = kubectl_json("get", "namespace", release.NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    def ready_pods() -> list[str]:
        pods = kubectl_json("get", "pods", "-n", release.NAMESPACE)["items"]
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return (
            [p["metadata"]["name"] for p in running]
            if running and all(_ready(p) for p in running)
            else []
        )

    pods = wait_until(ready_pods, timeout=120, what="every podpilot pod Ready")
    # The autoscaler and the emptyDir audit run as their own Deployments (chart default).
    deployments = kubectl_json("get", "deployments", "-n", release.NAMESPACE)["items"]
    names = {d["metadata"]["name"] for d in deployments}
    assert len(names) == 2, names
    assert len(pods) >= 2
    for deployment in deployments:
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], status
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("podpilot.dev/podpilot:"), image


def test_kubectl_knows_the_autoscaler_kind(kubectl: Kubectl) -> None:
    listed = kubectl("get", "autoscalers", "--all-namespaces")
    assert listed.stderr.strip() in ("", "No resources found")
    explained = wait_until(
        lambda: kubectl("explain", "autoscaler.spec", check=False).stdout,
        timeout=60,
        what="kubectl explain autoscaler.spec",
    )
    assert "KIND:" in explained and "Autoscaler" in explained
    assert "scaleTargetRef" in explained and "behavior" in explained
