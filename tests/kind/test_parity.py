"""Journey 2: a built-in HPA and the Autoscaler ``podpilot convert`` makes of the same HPA, on
twin Deployments whose pods burn real CPU, settle at the same replica count at each load level.

Each twin is a cpuburn server (every request costs ``WORK_MS`` of CPU) fed by its own driver at
the same request rate, so the CPU splits across the replicas the way a web service's does and
the count the autoscalers settle at depends on the load. The kind cluster's controller manager
and the operator run with the same HPA timings (``kind-config.yaml``, ``release.values``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until
from tests.kind.incluster import apply_documents, image, spec_replicas

from podpilot.apimachinery.conditions import by_type
from podpilot_dev.kind.addons import cpuburn

WORK_MS = 50
CPU_REQUEST = "200m"
MAX_REPLICAS = 6
# Requests a second at 50 ms each. Measured on this 2-core machine, n replicas of a server
# taking r requests a second burn about r x 50 + 12 n millicores (each pod's own runtime and
# probes), and the HPA's rule rests at n when ceil(load / 100m) = n, or when the load is within
# its 10 % tolerance of n x 100m (the 50 % target of a 200m request). Each level sits in the
# middle of one band, so that noise in the measured CPU cannot make a second count a resting
# point: at 2.5 requests/s, 3 replicas burn about 161m, 20 % below the 200m that would hold 3,
# and 2 burn 149m, well above the 100m that would let 1 do (at 3 requests/s, 3 replicas burn
# 186m, and the twins once rested at 2 and 3); at 4.5, 3 replicas burn 261m, inside (200m, 300m].
LEVELS = (2.5, 4.5, 0)
STABLE_FOR = 45.0  # longer than the 30 s downscale stabilization window, plus a sync
# The AbleToScale reason both the HPA controller and podpilot give when the count they keep is
# what the metrics ask for now, not an older recommendation a stabilization window still holds.
AT_REST = "ReadyForNewScale"
# A transient seen by one twin washes out slowly: once, at 2.5 requests/s, the HPA's twin went
# 2 -> 5 on one reading, down through its window to 1, and back to 2, at rest 192 s after it
# first reacted.
SETTLE_TIMEOUT = 360.0
# Each twin's autoscaler, by the name it shares with its Deployment.
AUTOSCALERS = {"by-hpa": "horizontalpodautoscaler", "by-podpilot": "autoscalers.podpilot.io"}


def hpa(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
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


def converted(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    """``podpilot convert`` of the HPA manifest, as a user runs it, renamed onto the twin."""
    result = subprocess.run(
        [sys.executable, "-m", "podpilot", "convert", "-o", "json", "-"],
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["kind"] == "Autoscaler", document
    document["metadata"]["name"] = name
    document["spec"]["scaleTargetRef"]["name"] = name
    # The HPA controller evaluates every --horizontal-pod-autoscaler-sync-period (5 s in
    # kind-config.yaml); the Autoscaler's own period defaults to the upstream 15 s.
    document["spec"]["evaluationPeriodSeconds"] = 5
    return document


def set_rate(kubectl: Kubectl, namespace: str, driver: str, rate: float) -> None:
    """The new rate in the driver's ConfigMap, and a new driver pod that mounts it at once (the
    kubelet refreshes a running pod's ConfigMap volume only about once a minute)."""
    patch = json.dumps({"data": {cpuburn.RATE_KEY: format(rate, "g")}})
    kubectl("patch", "configmap", driver, "-n", namespace, "--type=merge", "-p", patch)
    kubectl("rollout", "restart", f"deployment/{driver}", "-n", namespace)


def able_to_scale_reason(
    kubectl_json: Callable[..., Any], namespace: str, kind: str, name: str
) -> str:
    """The reason of the AbleToScale condition the autoscaler last wrote ("" before it has one)."""
    status = kubectl_json("get", kind, name, "-n", namespace).get("status", {})
    able_to_scale = by_type(status.get("conditions", ())).get("AbleToScale", {})
    return str(able_to_scale.get("reason", ""))


def settled(
    kubectl_json: Callable[..., Any], namespace: str, autoscalers: dict[str, str]
) -> dict[str, int]:
    """The replica counts once none of the ``autoscalers`` (name to kind; each scales the
    Deployment of its name) has changed its count for ``STABLE_FOR`` seconds, each saying all
    along that it keeps its count because the metrics ask for it. A count a downscale window
    still holds is not settled: the twins may pass through a transient higher count at
    different moments, and one would be compared while the other has already left it."""
    last: dict[str, int] = {}
    since = time.monotonic()

    def stable() -> dict[str, int] | None:
        nonlocal last, since
        now = {name: spec_replicas(kubectl_json, namespace, name) for name in autoscalers}
        at_rest = all(
            able_to_scale_reason(kubectl_json, namespace, kind, name) == AT_REST
            for name, kind in autoscalers.items()
        )
        if now != last or not at_rest:
            last, since = now, time.monotonic()
            return None
        return now if time.monotonic() - since >= STABLE_FOR else None

    counts: dict[str, int] = wait_until(
        stable, timeout=SETTLE_TIMEOUT, interval=2, what=f"{sorted(autoscalers)} settled"
    )
    return counts


def test_hpa_and_converted_autoscaler_settle_alike_under_real_cpu(
    kubectl: Kubectl, kubectl_json: Callable[..., Any], namespace: str
) -> None:
    burner = image("cpuburn")
    twins = tuple(AUTOSCALERS)
    for name in twins:
        apply_documents(kubectl, cpuburn.server(name, namespace, burner, WORK_MS, CPU_REQUEST))
        url = cpuburn.service_url(name, namespace)
        apply_documents(kubectl, cpuburn.driver(f"{name}-load", namespace, burner, url, 0))
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(hpa("by-hpa")))
    autoscaler = converted(hpa("by-podpilot"), "by-podpilot")
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(autoscaler))

    history: list[tuple[float, dict[str, int]]] = []
    previous = dict.fromkeys(twins, 1)
    for rate in LEVELS:
        for name in twins:
            set_rate(kubectl, namespace, f"{name}-load", rate)
        # The levels are far enough apart that each moves both twins; wait for that before
        # timing stability, or a lagging metric would look like a settled count.
        wait_until(
            lambda before=previous: all(
                spec_replicas(kubectl_json, namespace, n) != before[n] for n in twins
            ),
            timeout=SETTLE_TIMEOUT,
            what=f"both twins reacting to {rate} requests/s",
        )
        counts = settled(kubectl_json, namespace, AUTOSCALERS)
        previous = counts
        history.append((rate, counts))
        assert counts["by-hpa"] == counts["by-podpilot"], history
    first, second, last = (counts["by-hpa"] for _, counts in history)
    assert 1 < first < second <= MAX_REPLICAS, history
    assert last == 1, history
