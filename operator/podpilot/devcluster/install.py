"""``podpilot dev-cluster install``: the Helm chart with the operator as a pod on a real node.

Builds (or reuses) the operator image, imports it into every real node's containerd, lets
pods reach the apiserver relay (``podroute``), applies the CRDs, and runs ``helm upgrade
--install`` with ``image.pullPolicy: Never``, the real nodes' selector and toleration, and
``KUBERNETES_SERVICE_HOST/PORT`` pointing at the relay on the bridge gateway, so in-cluster
configuration never dials the ``kubernetes`` Service's ClusterIP.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from podpilot.commands.dev import dev_hpa_settings
from podpilot.devcluster import containerd, netns, operator_image, podroute
from podpilot.devcluster.cluster import ClusterState
from podpilot.devcluster.paths import repo_root
from podpilot.devcluster.realnodes import RELAY_PORT, Ledger

DEV_NODE_LABEL = "podpilot.io/dev-node"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}

Reporter = Callable[[str], None]


class InstallError(RuntimeError):
    """The install cannot go on; the message says why and what to do."""


def real_nodes(state: ClusterState) -> Ledger:
    ledger = Ledger.load(state.directory)
    if ledger is None or not ledger.nodes:
        raise InstallError(
            "this dev cluster has no real nodes; restart it with "
            "'podpilot dev-cluster down && podpilot dev-cluster up --real-nodes 2'"
        )
    return ledger


def values(
    reference: str, gateway: str, replicas: int = 1, extra_args: Sequence[str] = ()
) -> dict[str, Any]:
    """The chart values for the dev cluster (on top of the chart's defaults)."""
    repository, tag = reference.rsplit(":", 1)
    settings = dev_hpa_settings()
    hpa = [
        f"--cpu-initialization-period={settings.cpu_initialization_period:g}",
        f"--initial-readiness-delay={settings.initial_readiness_delay:g}",
        f"--tolerance={settings.tolerance:g}",
        f"--downscale-stabilization={settings.downscale_stabilization:g}",
    ]
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "replicaCount": replicas,
        # The CRDs are shared with everything else on the dev cluster: applied, not owned.
        "crds": {"install": False},
        "nodeSelector": {DEV_NODE_LABEL: "real"},
        "tolerations": [
            {"key": DEV_NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}
        ],
        # In-cluster config reads these; the kubelet's own (the Service ClusterIP) lose to
        # the container's env.
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": gateway},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(RELAY_PORT)},
        ],
        # The dev cluster's built-in HPA runs with shortened timings; so does the operator.
        "extraArgs": [*hpa, *extra_args],
    }


def import_image(ledger: Ledger, image: operator_image.BuiltImage, report: Reporter) -> None:
    for node in ledger.nodes:
        layout = containerd.ContainerdLayout(
            Path(node.directory) / "containerd", Path(node.socket_directory)
        )
        ctr = ["ctr", f"--address={layout.socket}", f"--namespace={containerd.CTR_NAMESPACE}"]
        listed = subprocess.run(
            [*ctr, "images", "ls", "-q", f"name=={image.reference}"],
            capture_output=True,
            text=True,
        )
        if image.reference in listed.stdout.split():
            continue
        containerd.import_images(layout, [image.archive])
        report(f"imported {image.reference} into {node.name}")


def helm_environment(state: ClusterState) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(state.kubeconfig)}


def kubectl(state: ClusterState, *args: str, input_text: str | None = None) -> str:
    result = subprocess.run(
        [state.binaries["kubectl"], f"--kubeconfig={state.kubeconfig}", *args],
        input=input_text,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise InstallError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def prepare(state: ClusterState, report: Reporter = print) -> operator_image.BuiltImage:
    """Everything but ``helm install``: image built and imported, pod route, CRDs."""
    ledger = real_nodes(state)
    image = operator_image.build(report)
    import_image(ledger, image, report)
    podroute.ensure(ledger)
    crds = repo_root() / "helm" / "podpilot" / "files" / "crds"  # the chart's copy of crds/
    try:
        kubectl(state, "apply", "--server-side", "--force-conflicts", "-f", str(crds))
    except InstallError as error:  # kubectl still applies every valid file
        report(f"warning: not every CRD applied: {error}")
    return image


def install(
    state: ClusterState,
    release: str = "podpilot",
    namespace: str = "podpilot",
    replicas: int = 1,
    extra_args: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    timeout: str = "180s",
    report: Reporter = print,
) -> None:
    image = prepare(state, report)
    namespace_manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": RESTRICTED},
    }
    kubectl(state, "apply", "--server-side", "-f", "-", input_text=json.dumps(namespace_manifest))
    chart_values = {
        **values(image.reference, real_nodes(state).network.gateway, replicas, extra_args),
        **(overrides or {}),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
        json.dump(chart_values, values_file)
        values_file.flush()
        command = [state.binaries["helm"], "upgrade", "--install", release]
        command += [str(repo_root() / "helm" / "podpilot"), "-n", namespace]
        command += ["-f", values_file.name, "--wait", f"--timeout={timeout}"]
        report(f"helm upgrade --install {release} -n {namespace} (image {image.reference})")
        result = subprocess.run(
            command, capture_output=True, text=True, env=helm_environment(state)
        )
    if result.returncode != 0:
        raise InstallError(f"helm install failed: {result.stderr.strip()}")
    report(f"release {release} installed in {namespace}; the operator runs on a real node")


INSTALL_ERRORS: tuple[type[Exception], ...] = (
    InstallError,
    operator_image.ImageBuildError,
    containerd.ContainerdError,
    netns.NetworkError,
)
