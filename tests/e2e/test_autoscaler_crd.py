"""The Autoscaler CRD on a real apiserver: its validation, its fit for HPA manifests, its docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import DEV_CONTEXT, Kubectl
from tests.e2e.waiting import wait_until

from podpilot_dev import cluster as dev_cluster

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
CRD_PATH = ROOT / "crds" / "autoscalers.podpilot.io.yaml"
CRD_NAME = "autoscalers.podpilot.io"
HPA_FILES = sorted((ROOT / "tests" / "data" / "hpa").glob("*.yaml"))
INVALID_FILES = sorted((ROOT / "tests" / "data" / "invalid-autoscalers").glob("*.yaml"))
EXPECT_PREFIX = "# expect: "


@pytest.fixture(scope="module")
def autoscaler_crd(crds_installed: None) -> str:
    """The CRD with its ValidatingAdmissionPolicy, enforced (``wiring.install_crds`` waits)."""
    return CRD_NAME


@pytest.fixture(scope="module")
def rejection_namespace(kubectl: Kubectl, autoscaler_crd: str) -> Iterator[str]:
    """One namespace for all invalid manifests: none of them is ever stored."""
    name = f"t-invalid-autoscalers-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "podpilot.io/e2e=true")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def expected_error(path: Path) -> str:
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith(EXPECT_PREFIX), f"{path.name} has no '{EXPECT_PREFIX}' line"
    return first_line.removeprefix(EXPECT_PREFIX).strip()


@pytest.mark.parametrize("path", INVALID_FILES, ids=[path.stem for path in INVALID_FILES])
def test_invalid_autoscaler_is_rejected_naming_the_field(
    kubectl: Kubectl, rejection_namespace: str, path: Path
) -> None:
    result = kubectl("apply", "-n", rejection_namespace, "-f", str(path), check=False)

    assert result.returncode != 0, f"{path.name} was accepted:\n{result.stdout}"
    assert expected_error(path) in result.stderr


def convert(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "podpilot", "convert", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


def missing_from(stored: object, sent: object, path: str = "") -> list[str]:
    """Paths of everything in ``sent`` that the apiserver did not keep (pruned or changed)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path or "."]
        return [
            missing
            for key, value in sent.items()
            for missing in missing_from(stored.get(key), value, f"{path}.{key}")
        ]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [
            missing
            for index, (kept, value) in enumerate(zip(stored, sent, strict=True))
            for missing in missing_from(kept, value, f"{path}[{index}]")
        ]
    return [] if stored == sent else [f"{path}: sent {sent!r}, stored {stored!r}"]


def as_written(path: Path) -> dict[str, Any]:
    """The manifest of ``path`` without what only a server writes (a read-back fixture has it)."""
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    document.pop("status", None)
    for server_field in ("namespace", "uid", "resourceVersion", "creationTimestamp",
                         "generation", "managedFields"):  # fmt: skip
        document["metadata"].pop(server_field, None)
    return document


V2_HPA_FILES = [path for path in HPA_FILES if as_written(path)["apiVersion"] == "autoscaling/v2"]


def server_dry_run(kubectl: Kubectl, namespace: str, document: dict[str, Any]) -> str:
    """The apiserver's refusal of ``document``, or "" when it would store it."""
    result = kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=json.dumps(document), check=False,
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stderr.strip()


@pytest.mark.parametrize("path", V2_HPA_FILES, ids=[path.stem for path in V2_HPA_FILES])
def test_an_hpa_manifest_becomes_an_autoscaler_by_its_apiversion_and_kind_alone(
    kubectl: Kubectl, autoscaler_crd: str, rejection_namespace: str, path: Path
) -> None:
    """Whatever the HPA accepts, the Autoscaler accepts with only apiVersion and kind changed:
    numbers as quantities (averageValue: 0.5, tolerance: 0.05) included."""
    hpa = as_written(path)
    autoscaler = {**hpa, "apiVersion": "podpilot.io/v1alpha1", "kind": "Autoscaler"}

    hpa_refusal = server_dry_run(kubectl, rejection_namespace, hpa)
    autoscaler_refusal = server_dry_run(kubectl, rejection_namespace, autoscaler)

    if hpa_refusal:  # only what the Autoscaler adds: minReplicas 0 without the HPA's gate
        assert "spec.minReplicas" in hpa_refusal and hpa["spec"]["minReplicas"] == 0
    assert autoscaler_refusal == ""


@pytest.mark.parametrize("path", HPA_FILES, ids=[path.stem for path in HPA_FILES])
def test_converted_hpa_manifest_is_accepted_unchanged(
    kubectl: Kubectl, autoscaler_crd: str, namespace: str, path: Path
) -> None:
    for autoscaler in convert(path):
        autoscaler["metadata"]["namespace"] = namespace
        name = autoscaler["metadata"]["name"]

        kubectl("apply", "-f", "-", input=yaml.safe_dump(autoscaler))

        stored = yaml.safe_load(
            kubectl("get", "autoscaler", name, "-n", namespace, "-o", "yaml").stdout
        )
        assert missing_from(stored["spec"], autoscaler["spec"]) == []


def test_kubectl_get_shows_the_hpa_columns_first(
    kubectl: Kubectl, autoscaler_crd: str, namespace: str
) -> None:
    path = ROOT / "tests" / "data" / "hpa" / "cpu-utilization.yaml"
    hpa = yaml.safe_load(path.read_text())
    hpa["metadata"]["namespace"] = namespace
    (autoscaler,) = convert(path)
    autoscaler["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(hpa))
    kubectl("apply", "-f", "-", input=yaml.safe_dump(autoscaler))

    hpa_table = table(kubectl("get", "hpa", "-n", namespace).stdout)
    autoscaler_table = table(kubectl("get", "autoscalers", "-n", namespace).stdout)

    hpa_columns = list(hpa_table[0])
    assert hpa_columns == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert list(autoscaler_table[0]) == [*hpa_columns, "MODE", "STATUS"]
    # Reference, Targets, Replicas and Status are written by the controller, not tested here.
    for column in ("NAME", "MINPODS", "MAXPODS"):
        assert autoscaler_table[0][column] == hpa_table[0][column]
    assert autoscaler_table[0]["MODE"] == "Active"


def table(output: str) -> list[dict[str, str]]:
    """Rows of kubectl's table output by column name; blank cells stay blank."""
    header, *rows = output.splitlines()
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[start:end].strip() for start, end in bounds]
    return [
        {name: row[start:end].strip() for name, (start, end) in zip(names, bounds, strict=True)}
        for row in rows
    ]


def test_kubectl_explain_prints_the_descriptions(kubectl: Kubectl, autoscaler_crd: str) -> None:
    # The OpenAPI document the explain command reads is published shortly after Established.
    explained = wait_until(
        lambda: kubectl("explain", "autoscalers.spec.behavior", check=False).stdout,
        timeout=60,
        what="kubectl explain autoscalers.spec.behavior",
    )

    assert "scaleUp" in explained
    assert "scaleDown" in explained
    assert "Scaling behavior in each direction, exactly as in the HPA." in " ".join(
        explained.split()
    )
    tolerance = kubectl("explain", "autoscalers.spec.behavior.scaleDown.tolerance").stdout
    assert "KEP-4951" in tolerance


# --- podpilot explain reads kubeconfigs as kubectl does ----------------------------------------


def podpilot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podpilot", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_explain_reads_merged_kubeconfigs_and_the_contexts_namespace(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    autoscaler_crd: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    (autoscaler,) = convert(ROOT / "tests" / "data" / "hpa" / "cpu-utilization.yaml")
    autoscaler["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(autoscaler))
    dev = yaml.safe_load(cluster.kubeconfig.read_text())
    (dev_context,) = (c for c in dev["contexts"] if c["name"] == DEV_CONTEXT)
    # A second file, first in the path, with a context of its own that names the namespace and
    # refers to the dev cluster and user of the other file: only a merge can resolve it.
    first = tmp_path / "namespace-context.yaml"
    first.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test-namespace",
                "contexts": [
                    {
                        "name": "test-namespace",
                        "context": {**dev_context["context"], "namespace": namespace},
                    }
                ],
            }
        )
    )
    merged = f"{first}:{cluster.kubeconfig}"

    from_context = podpilot("explain", "web", "--kubeconfig", merged)
    as_json = podpilot(
        "explain", "web", "--kubeconfig", merged, "--context", DEV_CONTEXT, "-n", namespace,
        "-o", "json",
    )  # fmt: skip
    wide = podpilot("explain", "-A", "-o", "wide", "--kubeconfig", merged)
    unknown = podpilot("explain", "web", "--kubeconfig", merged, "--context", "nope")

    assert from_context.returncode == 0, from_context.stderr
    assert from_context.stdout.startswith("Autoscaler web")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["metadata"]["namespace"] == namespace
    assert wide.returncode == 0, wide.stderr
    assert [namespace, "web"] in [line.split()[:2] for line in wide.stdout.splitlines()]
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("podpilot explain: error: cannot load the API credentials:")
    assert len(unknown.stderr.splitlines()) == 1
