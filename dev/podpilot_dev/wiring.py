"""Wiring ``podpilot run`` to the local dev cluster when no other cluster is configured."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

from podpilot.apimachinery.durations import parse_go_duration
from podpilot.settings import HpaSettings, OperatorSettings
from podpilot_dev import cluster
from podpilot_dev.manifests import file_sd_target
from podpilot_dev.paths import repo_root


def dev_hpa_settings() -> HpaSettings:
    """The dev cluster shortens the built-in HPA's timings; use the same ones."""
    flags = cluster.HPA_SETTINGS
    return HpaSettings(
        cpu_initialization_period=parse_go_duration(
            flags["horizontal-pod-autoscaler-cpu-initialization-period"]
        ),
        initial_readiness_delay=parse_go_duration(
            flags["horizontal-pod-autoscaler-initial-readiness-delay"]
        ),
        tolerance=float(flags["horizontal-pod-autoscaler-tolerance"]),
        downscale_stabilization=parse_go_duration(
            flags["horizontal-pod-autoscaler-downscale-stabilization"]
        ),
    )


def install_crds(state: cluster.ClusterState) -> None:
    subprocess.run(
        [
            state.binaries["kubectl"],
            "--kubeconfig",
            str(state.kubeconfig),
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(repo_root() / "crds"),
        ],
        check=True,
    )
    subprocess.run(
        [
            state.binaries["kubectl"],
            "--kubeconfig",
            str(state.kubeconfig),
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=podpilot",
        ],
        check=False,
    )
    wait_for_autoscaler_policy(state)


# An Autoscaler the ValidatingAdmissionPolicy refuses (a boolean quantity), sent as a
# server-side dry run: nothing is stored, whichever the answer.
POLICY_PROBE = """{"apiVersion": "podpilot.io/v1alpha1", "kind": "Autoscaler",
 "metadata": {"name": "policy-probe", "namespace": "default"},
 "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "probe"},
  "maxReplicas": 2, "metrics": [{"type": "Pods", "pods": {"metric": {"name": "probe"},
  "target": {"type": "AverageValue", "averageValue": true}}}]}}"""
POLICY_WAIT_SECONDS = 60.0


def wait_for_autoscaler_policy(state: cluster.ClusterState) -> None:
    """Wait until the apiserver enforces the Autoscaler's ValidatingAdmissionPolicy, which it
    starts doing a moment after the policy and its binding are created, not at once."""
    deadline = time.monotonic() + POLICY_WAIT_SECONDS
    while True:
        answer = subprocess.run(
            [
                state.binaries["kubectl"], "--kubeconfig", str(state.kubeconfig),
                "create", "--dry-run=server", "--request-timeout=10s", "-f", "-",
            ],
            input=POLICY_PROBE, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if "ValidatingAdmissionPolicy" in answer.stderr:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Autoscaler's ValidatingAdmissionPolicy was not enforced within "
                f"{POLICY_WAIT_SECONDS:g} s: {answer.stderr.strip() or answer.stdout.strip()}"
            )
        time.sleep(0.5)


def prepare_dev_cluster(settings: OperatorSettings, demo: bool) -> OperatorSettings:
    """Start (or reuse) the dev cluster, install the CRDs and point this process at it."""
    state = cluster.up()
    os.environ["KUBECONFIG"] = str(state.kubeconfig)
    install_crds(state)
    state.prometheus_targets_dir.mkdir(parents=True, exist_ok=True)
    (state.prometheus_targets_dir / "podpilot-operator.json").write_text(
        file_sd_target("podpilot-operator", settings.metrics_port)
    )
    if demo:
        subprocess.run(
            [
                state.binaries["kubectl"],
                "--kubeconfig",
                str(state.kubeconfig),
                "apply",
                "-f",
                str(repo_root() / "examples" / "demo.yaml"),
            ],
            check=True,
        )
        print(
            "\nDemo applied in namespace podpilot-demo. In another shell:\n"
            f'  eval "$({sys.executable} -m podpilot_dev cluster env)"\n'
            "  kubectl get autoscalers -n podpilot-demo -w\n"
            "  kubectl annotate pods -n podpilot-demo -l app=web --overwrite "
            "kwok.x-k8s.io/usage-cpu=150m   # raise the load\n"
            "  podpilot explain -n podpilot-demo web\n",
            file=sys.stderr,
        )
    return dataclasses.replace(
        settings,
        hpa=dev_hpa_settings(),
        metrics_address="127.0.0.1",
        health_address="127.0.0.1",
        standalone=True,
    )
