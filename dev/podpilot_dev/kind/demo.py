"""README's main job on kind: the cluster with podpilot installed by Helm, a web service under
real CPU load, and the operator's decisions about it streaming in the terminal.

``web`` is a cpuburn server (each request costs 50 ms of CPU) fed by ``clients``, a cpuburn
driver whose rate lives in its ConfigMap; an Autoscaler made from an autoscaling/v2 HPA by
changing apiVersion and kind scales ``web`` on CPU. The decisions are the operator pod's log
lines about the demo namespace, followed until Ctrl-C.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from podpilot_dev.kind import addons, cluster, images, release
from podpilot_dev.kind.addons import cpuburn
from podpilot_dev.kind.addons.common import Document
from podpilot_dev.kind.steps import Reporter, run, say

NAMESPACE = "podpilot-demo"
WORK_MS = 50
INITIAL_RATE = 6  # requests a second: about 300m of CPU, 3 replicas' worth at 50 % of 200m
REATTACH_PAUSE = 2.0


def autoscaler() -> Document:
    return {
        "apiVersion": "podpilot.io/v1alpha1",  # was: autoscaling/v2
        "kind": "Autoscaler",  # was: HorizontalPodAutoscaler
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
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
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            # The cluster's HPA sync period (kind-config.yaml), so decisions come quickly.
            "evaluationPeriodSeconds": 5,
        },
    }


def manifests(cpuburn_image: str) -> list[Document]:
    url = cpuburn.service_url("web", NAMESPACE)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        *cpuburn.server("web", NAMESPACE, cpuburn_image, WORK_MS),
        *cpuburn.driver("clients", NAMESPACE, cpuburn_image, url, INITIAL_RATE),
        autoscaler(),
    ]


def instructions(kubeconfig: Path) -> str:
    return (
        f"\nDemo applied in namespace {NAMESPACE}: web serves {INITIAL_RATE} requests/s from "
        "clients, 50 ms of CPU each. In another shell:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl get autoscalers -n {NAMESPACE} -w\n"
        f'  kubectl patch configmap clients -n {NAMESPACE} -p \'{{"data":{{"rate":"12"}}}}\''
        f" && kubectl rollout restart deployment/clients -n {NAMESPACE}   # raise the load\n"
        f"  podpilot explain -n {NAMESPACE} web\n"
        "Decisions follow (the operator's log lines about the demo; Ctrl-C to stop):\n"
    )


def is_decision(line: str) -> bool:
    return f"{NAMESPACE}/" in line


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def follow_command(kubectl: Sequence[str], since: datetime) -> list[str]:
    """``kubectl logs -f`` of the operator from ``since`` on: lines of an earlier demo run, or
    lines already printed before a re-attach, are not shown again."""
    return [*kubectl, "logs", "-f", f"deployment/{release.RELEASE}", "-n", release.NAMESPACE,
            f"--since-time={rfc3339(since)}"]  # fmt: skip


def follow_decisions(kubectl: Sequence[str], since: datetime) -> None:
    """Print the operator's lines about the demo from ``since`` until interrupted,
    re-attaching after a restart of its pod from where the previous stream ended."""
    while True:
        with subprocess.Popen(follow_command(kubectl, since), stdout=subprocess.PIPE,
                              text=True) as follower:  # fmt: skip
            assert follower.stdout is not None
            for line in follower.stdout:
                if is_decision(line):
                    print(line.rstrip(), flush=True)
        since = datetime.now(UTC)
        time.sleep(REATTACH_PAUSE)


def run_demo(report: Reporter = say) -> int:
    kubeconfig = cluster.up(report)
    kubectl = [cluster.kubectl_binary(), f"--kubeconfig={kubeconfig}"]
    burner = images.build_all(["cpuburn"], report=report)["cpuburn"].reference
    applied_at = datetime.now(UTC)
    run([*kubectl, "apply", "--server-side", "-f", "-"], timeout=60,
        input_text=addons.to_yaml(manifests(burner)))  # fmt: skip
    print(instructions(kubeconfig), file=sys.stderr, flush=True)
    try:
        follow_decisions(kubectl, applied_at)
    except KeyboardInterrupt:
        return 0
    return 0
