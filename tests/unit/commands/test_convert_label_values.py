"""Labels and annotations are strings keyed by strings. kubectl refuses a manifest whose label
is an unquoted ``true`` or ``3`` as it reads it (``json: cannot unmarshal bool into Go struct
field ObjectMeta.metadata.labels of type string``); ``convert`` refuses it as well, in one line
naming the field, with exit status 1, rather than write an Autoscaler the API server refuses.
``backtest`` and ``recommend`` read their manifests through the same check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.unit.commands.convert_runs import converting, manifest

from podpilot.autoscaler.api.conversion import ConversionError, convert_hpa
from podpilot.commands.backtest_inputs import load_specs
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK, CommandError

AUTOSCALER = """\
apiVersion: podpilot.io/v1alpha1
kind: Autoscaler
metadata:
  name: web
{metadata}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  maxReplicas: 10
"""


def autoscaler_manifest(metadata: str) -> str:
    return AUTOSCALER.format(metadata=metadata)


READ_AS_NOT_TEXT = [
    (
        "  labels: {enabled: true}",
        "metadata.labels.enabled: must be a string, not the boolean true",
    ),
    ("  labels: {canary: no}", "metadata.labels.canary: must be a string, not the boolean false"),
    ("  labels: {replicas: 3}", "metadata.labels.replicas: must be a string, not the number 3"),
    ("  labels: {color: 0x1F}", "metadata.labels.color: must be a string, not the number 31"),
    (
        "  labels: {version: 1e3}",
        "metadata.labels.version: must be a string, not the number 1000.0",
    ),
    (
        "  annotations: {ratio: 0.5}",
        "metadata.annotations.ratio: must be a string, not the number 0.5",
    ),
]
# The value as YAML read it, which quoting keeps as written (canary: "no").
REFUSED = [(metadata, f"{said}: quote it") for metadata, said in READ_AS_NOT_TEXT] + [
    (
        "  annotations: {owners: [a, b]}",
        "metadata.annotations.owners: must be a string, not a list",
    ),
    (
        "  annotations: {owner: {team: a}}",
        "metadata.annotations.owner: must be a string, not an object",
    ),
    ("  labels: shop", "metadata.labels must be an object, not 'shop'"),
    ("  annotations: [a]", "metadata.annotations must be an object, not ['a']"),
]


@pytest.mark.parametrize(("metadata", "said"), REFUSED)
def test_convert_refuses_a_label_or_annotation_that_is_not_a_string_in_one_line(
    metadata: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert converting(manifest(metadata), tmp_path, capsys) == (
        EXIT_FAILED,
        "",
        [f"podpilot convert: error: FILE, document 1: {said}"],
    )


def test_quoted_values_are_the_strings_they_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata = '  labels: {enabled: "true", replicas: "3"}\n  annotations: {ratio: "0.5"}'

    status, out, err = converting(manifest(metadata), tmp_path, capsys)

    assert (status, err) == (EXIT_OK, [])
    written = yaml.safe_load(out)["metadata"]
    assert written["labels"] == {"enabled": "true", "replicas": "3"}
    assert written["annotations"] == {"ratio": "0.5"}


def test_every_document_at_fault_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "---\n".join(
        manifest(metadata) for metadata in ("  labels: {a: true}", "", "  labels: {b: 2}")
    )

    status, out, err = converting(text, tmp_path, capsys)

    assert (status, out) == (EXIT_FAILED, "")
    assert err == [
        "podpilot convert: error: FILE, document 1: metadata.labels.a: must be a string, not the "
        "boolean true: quote it",
        "podpilot convert: error: FILE, document 3: metadata.labels.b: must be a string, not the "
        "number 2: quote it",
    ]


@pytest.mark.parametrize("labels", [{"enabled": True}, {"replicas": 3}, {"ratio": 0.5}])
def test_the_conversion_itself_refuses_them_for_every_caller(labels: dict[str, object]) -> None:
    hpa = yaml.safe_load(manifest())
    hpa["metadata"]["labels"] = labels
    with pytest.raises(
        ConversionError,
        match=r"^metadata\.labels\.\w+: must be a string, not the \w+ \S+: quote it$",
    ):
        convert_hpa(hpa)


@pytest.mark.parametrize("template", [manifest, autoscaler_manifest], ids=["hpa", "autoscaler"])
@pytest.mark.parametrize(("metadata", "said"), [REFUSED[0], *REFUSED[-2:]])
def test_backtest_and_recommend_refuse_them_alike(
    template: Callable[[str], str], metadata: str, said: str, tmp_path: Path
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(template(metadata), encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        load_specs([str(path)])

    assert str(raised.value) == f"{path}: {said}"
