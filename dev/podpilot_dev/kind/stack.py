"""What ``kind up`` runs inside the cluster: flannel as its CNI, then the metrics stack.

The images are built (or found cached) by ``images.build_all``, loaded into every node with
``kind load image-archive`` unless a node already has them, and applied from manifest files
written under ``kind_state()`` (so a user can read exactly what was applied): flannel first, and
once every node is Ready, metrics-server, Prometheus and prometheus-adapter, waited for until
``metrics.k8s.io``, ``custom.metrics.k8s.io`` and ``external.metrics.k8s.io`` are Available.
The cpuburn and busybox images are loaded too, for the workloads of the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from podpilot_dev.kind import addons, images, locations, podman
from podpilot_dev.kind.addons import flannel, prometheus_adapter
from podpilot_dev.kind.addons.common import Document
from podpilot_dev.kind.steps import Reporter, run, timed

IMAGE_NAMES = (
    "flannel", "metrics-server", "prometheus", "prometheus-adapter", "cpuburn", "busybox"
)  # fmt: skip
LOAD_TIMEOUT = 300.0
READY_TIMEOUT = "180s"
METRICS_APIS = (
    "apiservice/v1beta1.metrics.k8s.io",
    *(f"apiservice/{version}.{group}" for group, version in prometheus_adapter.API_VERSIONS),
)


class Loadable(Protocol):
    """An OCI archive and the reference it is tagged with (the kind or the operator image)."""

    @property
    def reference(self) -> str: ...

    @property
    def archive(self) -> Path: ...


def missing_on(node: str, references: Sequence[str]) -> list[str]:
    listed = podman.run(["exec", node, "ctr", "-n", "k8s.io", "images", "ls", "-q"]).stdout
    present = set(listed.split())
    return [reference for reference in references if _qualified(reference) not in present]


def _qualified(reference: str) -> str:
    # containerd names an image without a registry host under docker.io/library/.
    return reference if "." in reference.split("/")[0] else f"docker.io/library/{reference}"


def load(kind: str, archives: Iterable[Loadable], nodes: Sequence[str], report: Reporter) -> None:
    """``kind load image-archive`` each image that some node does not have yet."""
    for image in archives:
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
    """Load the images, apply flannel and wait for Ready nodes, then the metrics stack."""
    built = images.build_all(list(IMAGE_NAMES), report=report)
    load(kind, built.values(), nodes, report)
    network = write_manifest("flannel", flannel.manifests(built["flannel"].reference))
    references = {name: image.reference for name, image in built.items()}
    metrics = write_manifest("metrics", addons.render_metrics(references))
    with timed(report, "flannel: applying, waiting for every node to be Ready"):
        run([*kubectl, "apply", "--server-side", "-f", str(network)], timeout=60)
        run([*kubectl, "wait", "--for=condition=Ready", "nodes", "--all",
             f"--timeout={READY_TIMEOUT}"], timeout=200)  # fmt: skip
    with timed(report, "metrics-server, Prometheus, prometheus-adapter: applying, waiting for "
               "the metrics APIs"):  # fmt: skip
        run([*kubectl, "apply", "--server-side", "-f", str(metrics)], timeout=60)
        run([*kubectl, "wait", "--for=condition=Available", *METRICS_APIS,
             f"--timeout={READY_TIMEOUT}"], timeout=200)  # fmt: skip
