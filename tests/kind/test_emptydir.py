"""Journey 4: the emptyDir audit on kind's real volumes.

Usage comes from each node's kubelet (its Summary API, dialled at the node's address, as the
chart installs the audit); a pod that writes past its volume's ``sizeLimit`` is evicted by the
kubelet itself, and the workload's report traces the eviction to the volume.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until
from tests.kind.incluster import image

from podpilot_dev.kind.addons.common import restricted_container_security, restricted_pod_security

SELECT_LABEL = "podpilot.io/emptydir-kind"
MIB = 2**20
POLICY = "default"


@pytest.fixture
def audited(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """The cluster's EmptyDirAuditPolicy, auditing only this test's namespace."""
    policy = {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "EmptyDirAuditPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "namespaceSelector": {"matchLabels": {SELECT_LABEL: "true"}},
            "polling": {"interval": "5s"},
        },
    }
    kubectl("label", "namespace", namespace, f"{SELECT_LABEL}=true")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(policy))
    yield namespace
    kubectl("delete", "emptydirauditpolicy", POLICY, "--wait=false", check=False)


def writer(name: str, size_limit: str, script: str) -> dict[str, Any]:
    """A Deployment whose busybox pod runs ``script`` with an emptyDir at /data."""
    labels = {"app": name}
    container = {
        "name": "writer",
        "image": image("busybox"),
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": restricted_pod_security(),
                    "terminationGracePeriodSeconds": 0,
                    "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": size_limit}}],
                },
            },
        },
    }


def report(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    found = kubectl("get", "emptydirreport", name, "-n", namespace, "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(found.stdout).get("status", {})
    return status


def volume(status: dict[str, Any]) -> dict[str, Any]:
    return next((v for v in status.get("volumes", []) if v["volume"] == "data"), {})


def test_real_usage_and_a_kubelet_eviction_are_reported(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], audited: str
) -> None:
    fill = "dd if=/dev/zero of=/data/fill bs=1M count=24 && sleep 3600"
    overflow = "dd if=/dev/zero of=/data/fill bs=1M count=16; sleep 3600"
    for manifest in (writer("filler", "96Mi", fill), writer("overflow", "4Mi", overflow)):
        kubectl("apply", "-n", audited, "-f", "-", input=json.dumps(manifest))

    used = wait_until(
        lambda: (
            volume(report(kubectl, audited, "deployment-filler")).get("usedBytes", 0) >= 24 * MIB
            and volume(report(kubectl, audited, "deployment-filler"))
        ),
        timeout=120,
        what="the filler's 24 MiB in its report, from the kubelet",
    )
    assert used["stats"] == "Fresh", used
    assert used["usedBytes"] < 96 * MIB, used

    def evicted_pod() -> dict[str, Any] | None:
        pods = kubectl_json("get", "pods", "-n", audited, "-l", "app=overflow")["items"]
        return next((p for p in pods if p["status"].get("reason") == "Evicted"), None)

    pod = wait_until(evicted_pod, timeout=150, what="the kubelet evicting an overflow pod")
    assert 'Usage of EmptyDir volume "data" exceeds the limit "4Mi"' in pod["status"]["message"]

    def traced() -> dict[str, Any] | None:
        findings = report(kubectl, audited, "deployment-overflow").get("findings", [])
        return next((f for f in findings if f["id"] == "ED020"), None)

    finding = wait_until(traced, timeout=90, what="ED020 in the overflow's report")
    assert finding["volume"] == "data", finding
    # The ReplicaSet replaces each evicted pod, and the kubelet evicts each replacement too:
    # the finding names one of the evicted pods.
    pods = kubectl_json("get", "pods", "-n", audited, "-l", "app=overflow")["items"]
    evicted = {p["metadata"]["uid"] for p in pods if p["status"].get("reason") == "Evicted"}
    assert finding["podUID"] in evicted, (finding, evicted)
