"""podpilot on the kind cluster the way a user installs it: ``helm install`` from ``helm/podpilot``.

The operator image is built locally (``operator_image``), imported into every node with
``kind load image-archive`` and used with ``pullPolicy: Never``; the release goes into
``podpilot-system``, a namespace that enforces the ``restricted`` Pod Security Standard, and
owns the CRDs (``crds.install``, the chart's default). The operator runs with the HPA timings
``kind-config.yaml`` gives the built-in HPA, so both react alike.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podpilot.commands.run import hpa_arguments
from podpilot_dev import operator_image
from podpilot_dev.kind import locations, stack
from podpilot_dev.kind.addons.common import namespace
from podpilot_dev.kind.steps import Reporter, run, timed
from podpilot_dev.paths import repo_root
from podpilot_dev.wiring import dev_hpa_settings

RELEASE = "podpilot"
NAMESPACE = "podpilot-system"
HELM_TIMEOUT = "240s"


def chart() -> Path:
    return repo_root() / "helm" / "podpilot"


def values(reference: str) -> dict[str, Any]:
    """The chart values on kind, on top of the chart's defaults."""
    repository, tag = reference.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "extraArgs": hpa_arguments(dev_hpa_settings()),
        # kind's kubelets serve self-signed certificates (metrics-server skips verification
        # for the same reason); a test cluster only, never a production setting.
        "controllers": {"emptydir": {"kubelet": {"insecureTLS": True}}},
    }


def helm_command(helm: str, values_file: Path) -> list[str]:
    return [
        helm,
        "upgrade",
        "--install",
        RELEASE,
        str(chart()),
        f"--namespace={NAMESPACE}",
        f"--kubeconfig={locations.kubeconfig()}",
        f"--values={values_file}",
        "--wait",
        f"--timeout={HELM_TIMEOUT}",
    ]


def install(
    kind: str, kubectl: Sequence[str], helm: str, nodes: Sequence[str], report: Reporter
) -> str:
    """Build and load the operator image, then ``helm upgrade --install``; return its reference."""
    image = operator_image.build(report)
    stack.load(kind, [image], nodes, report)
    manifest = json.dumps(namespace(NAMESPACE, "restricted"))
    run([*kubectl, "apply", "--server-side", "-f", "-"], timeout=60, input_text=manifest)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
        json.dump(values(image.reference), values_file)
        values_file.flush()
        with timed(report, f"helm upgrade --install {RELEASE} -n {NAMESPACE}"):
            run(helm_command(helm, Path(values_file.name)), timeout=300)
    return image.reference
