"""Wiring ``podpilot run`` to the local dev cluster when no other cluster is configured."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

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
