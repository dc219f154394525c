"""``podpilot-dev cluster install``: the Helm chart with the operator as a pod on a real node.

Builds (or reuses) the operator image, imports it into every real node's containerd, lets
pods reach the apiserver relay (``podroute``), applies the CRDs, and runs ``helm upgrade
--install`` with ``image.pullPolicy: Never``, the real nodes' selector and toleration, and
``KUBERNETES_SERVICE_HOST/PORT`` pointing at the relay on the bridge gateway, so in-cluster
configuration never dials the ``kubernetes`` Service's ClusterIP. Once the release is up, the
operator image tags of earlier installs that no Pod names are removed from the nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from podpilot.commands.run import hpa_arguments
from podpilot_dev import containerd, netns, operator_image, podroute
from podpilot_dev.cluster import ClusterState
from podpilot_dev.paths import repo_root
from podpilot_dev.realnodes import RELAY_PORT, Ledger, NodeRecord
from podpilot_dev.wiring import dev_hpa_settings

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
            "'podpilot-dev cluster down && podpilot-dev cluster up --real-nodes 2'"
        )
    return ledger


def values(
    reference: str, gateway: str, replicas: int = 1, extra_args: Sequence[str] = ()
) -> dict[str, Any]:
    """The chart values for the dev cluster (on top of the chart's defaults)."""
    repository, tag = reference.rsplit(":", 1)
    hpa = hpa_arguments(dev_hpa_settings())
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


def _ctr(node: NodeRecord) -> tuple[containerd.ContainerdLayout, list[str]]:
    layout = node.containerd_layout()
    return layout, ["ctr", f"--address={layout.socket}", f"--namespace={containerd.CTR_NAMESPACE}"]


def import_image(ledger: Ledger, image: operator_image.BuiltImage, report: Reporter) -> None:
    for node in ledger.nodes:
        layout, ctr = _ctr(node)
        listed = subprocess.run(
            [*ctr, "images", "ls", "-q", f"name=={image.reference}"],
            capture_output=True,
            text=True,
        )
        if image.reference in listed.stdout.split():
            continue
        containerd.import_images(layout, [image.archive])
        report(f"imported {image.reference} into {node.name}")


def stale_operator_images(listing: str, keep: str, in_use: Collection[str]) -> list[str]:
    """The references to remove, from a node's ``ctr images ls`` table: operator tags other
    than ``keep`` that no Pod names, then the CRI plugin's digest-named references (image IDs)
    that would be left pointing at nothing but those tags' images."""
    targets: dict[str, str] = {}  # reference -> manifest digest
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 3:
            targets[columns[0]] = columns[2]
    stale = sorted(
        reference
        for reference in targets
        if reference.startswith(f"{operator_image.REPOSITORY}:")
        and reference != keep
        and reference not in in_use
    )
    stale_targets = {targets[reference] for reference in stale}
    named_targets = {
        digest
        for reference, digest in targets.items()
        if reference not in stale and not reference.startswith("sha256:")
    }
    orphaned_ids = sorted(
        reference
        for reference, digest in targets.items()
        if reference.startswith("sha256:")
        and digest in stale_targets
        and digest not in named_targets
    )
    return stale + orphaned_ids


def images_in_use(state: ClusterState) -> set[str]:
    """Every image a Pod names, scheduled or not, so a pending pod never loses its image."""
    listing = kubectl(
        state,
        "get",
        "pods",
        "--all-namespaces",
        "-o",
        "jsonpath={.items[*].spec.containers[*].image} {.items[*].spec.initContainers[*].image}",
    )
    return set(listing.split())


def remove_stale_images(state: ClusterState, ledger: Ledger, keep: str, report: Reporter) -> None:
    """Untag earlier installs' operator images on every real node (containerd then collects
    their content); tags any Pod still names stay until a later install."""
    try:
        in_use = images_in_use(state)
    except InstallError as error:  # the release is installed; cleaning up is a bonus
        report(f"warning: old images stay on the real nodes: {error}")
        return
    for node in ledger.nodes:
        _, ctr = _ctr(node)
        listed = subprocess.run([*ctr, "images", "ls"], capture_output=True, text=True)
        stale = stale_operator_images(listed.stdout, keep, in_use) if listed.returncode == 0 else []
        if not stale:
            continue
        removed = subprocess.run([*ctr, "images", "rm", *stale], capture_output=True, text=True)
        if removed.returncode != 0:
            report(f"warning: old images stay on {node.name}: {removed.stderr.strip()}")
        else:
            report(f"removed old operator images from {node.name}: {' '.join(stale)}")


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
    remove_stale_images(state, real_nodes(state), image.reference, report)


INSTALL_ERRORS: tuple[type[Exception], ...] = (
    InstallError,
    operator_image.ImageBuildError,
    containerd.ContainerdError,
    netns.NetworkError,
)
