"""What ``kind up`` runs inside the cluster: flannel as its CNI, then metrics-server.

The images are built (or found cached) by ``images.build_all``, loaded into every node with
``kind load image-archive`` unless a node already has them, and applied from manifest files
written under ``kind_state()`` (so a user can read exactly what was applied). Prometheus and
prometheus-adapter are built and rendered too but not yet applied here (issue #19).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from podpilot_dev.kind import addons, images, locations, podman
from podpilot_dev.kind.addons import flannel, metrics_server
from podpilot_dev.kind.addons.common import Document
from podpilot_dev.kind.steps import Reporter, run, timed

IMAGE_NAMES = ("flannel", "metrics-server")
LOAD_TIMEOUT = 300.0
READY_TIMEOUT = "180s"
METRICS_API = "apiservice/v1beta1.metrics.k8s.io"


def missing_on(node: str, references: Sequence[str]) -> list[str]:
    listed = podman.run(["exec", node, "ctr", "-n", "k8s.io", "images", "ls", "-q"]).stdout
    present = set(listed.split())
    return [reference for reference in references if _qualified(reference) not in present]


def _qualified(reference: str) -> str:
    # containerd names an image without a registry host under docker.io/library/.
    return reference if "." in reference.split("/")[0] else f"docker.io/library/{reference}"


def load(
    kind: str, built: Mapping[str, images.BuiltImage], nodes: Sequence[str], report: Reporter
) -> None:
    for image in built.values():
        if not any(missing_on(node, [image.reference]) for node in nodes):
            continue
        with timed(report, f"kind load image-archive {image.reference}"):
            run(
                [kind, "load", "image-archive", str(image.archive),
                 f"--name={locations.CLUSTER_NAME}"],
                timeout=LOAD_TIMEOUT,
                env=podman.environment(),
            )  # fmt: skip


def write_manifest(name: str, documents: Sequence[Document]) -> Path:
    path = locations.kind_state() / f"{name}.yaml"
    path.write_text(addons.to_yaml(documents))
    return path


def install(kind: str, kubectl: Sequence[str], nodes: Sequence[str], report: Reporter) -> None:
    """Load the images, apply flannel and wait for Ready nodes, then metrics-server."""
    built = images.build_all(list(IMAGE_NAMES), report=report)
    load(kind, built, nodes, report)
    network = write_manifest("flannel", flannel.manifests(built["flannel"].reference))
    metrics = write_manifest(
        "metrics-server", metrics_server.manifests(built["metrics-server"].reference)
    )
    with timed(report, "flannel: applying, waiting for every node to be Ready"):
        run([*kubectl, "apply", "--server-side", "-f", str(network)], timeout=60)
        run([*kubectl, "wait", "--for=condition=Ready", "nodes", "--all",
             f"--timeout={READY_TIMEOUT}"], timeout=200)  # fmt: skip
    with timed(report, "metrics-server: applying, waiting for metrics.k8s.io"):
        run([*kubectl, "apply", "--server-side", "-f", str(metrics)], timeout=60)
        run([*kubectl, "wait", "--for=condition=Available", METRICS_API,
             f"--timeout={READY_TIMEOUT}"], timeout=200)  # fmt: skip
