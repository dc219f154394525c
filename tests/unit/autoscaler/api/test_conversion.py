"""HPA manifests to Autoscaler manifests: the pure conversion, then the thin command around it."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from podpilot.autoscaler.api.conversion import (
    AUTOSCALER_API_VERSION,
    AUTOSCALER_KIND,
    ConversionError,
    convert_documents,
    convert_hpa,
    require_name,
)
from podpilot.cli import main as podpilot_main

HPA_DIR = Path(__file__).parents[3] / "data" / "hpa"
HPA_FILES = sorted(HPA_DIR.glob("*.yaml"))

CPU_50 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}


def hpa(api_version: str = "autoscaling/v2", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 10,
            **spec,
        },
    }


# --- autoscaling/v2 and v2beta2: only apiVersion and kind change --------------------------------


@pytest.mark.parametrize("api_version", ["autoscaling/v2", "autoscaling/v2beta2"])
def test_v2_spec_is_kept_exactly(api_version: str) -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min"}}
    source = hpa(api_version, minReplicas=2, metrics=[CPU_50], behavior=behavior)

    autoscaler = convert_hpa(source).autoscaler

    assert autoscaler["apiVersion"] == AUTOSCALER_API_VERSION
    assert autoscaler["kind"] == AUTOSCALER_KIND
    assert autoscaler["metadata"] == {"name": "web", "namespace": "shop"}
    assert autoscaler["spec"] == source["spec"]


def test_server_written_fields_and_status_are_dropped() -> None:
    source = hpa(metrics=[CPU_50])
    source["metadata"].update(
        uid="5d0c7f3e",
        resourceVersion="918273",
        generation=3,
        creationTimestamp="2026-10-02T08:14:51Z",
        managedFields=[{"manager": "kubectl"}],
        labels={"app": "web"},
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "team": "web",
        },
    )
    source["status"] = {"currentReplicas": 2, "desiredReplicas": 2}

    autoscaler = convert_hpa(source).autoscaler

    assert "status" not in autoscaler
    assert autoscaler["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {"team": "web"},
    }


def test_annotations_left_empty_are_removed() -> None:
    source = hpa()
    source["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}

    assert "annotations" not in convert_hpa(source).autoscaler["metadata"]


@pytest.mark.parametrize("field", ["ownerReferences", "finalizers"])
def test_ownership_metadata_is_dropped_with_a_note(field: str) -> None:
    source = hpa()
    source["metadata"][field] = [{"name": "owner"}]

    conversion = convert_hpa(source)

    assert field not in conversion.autoscaler["metadata"]
    assert any(f"metadata.{field}" in note for note in conversion.notes)


def test_the_input_is_not_modified() -> None:
    source = hpa(metrics=[CPU_50], behavior={"scaleUp": {"tolerance": 0.05}})
    source["status"] = {"currentReplicas": 1}
    before = copy.deepcopy(source)

    convert_hpa(source)

    assert source == before


# --- quantities --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", [0.05, 1.5, 2.0, 1e-05], ids=["fraction", "above-one", "whole-float", "exponent"]
)
def test_fractional_tolerance_is_kept_as_the_hpa_took_it(written: float) -> None:
    source = hpa(behavior={"scaleUp": {"tolerance": written}, "scaleDown": {"tolerance": "50m"}})

    conversion = convert_hpa(source)

    behavior = conversion.autoscaler["spec"]["behavior"]
    assert behavior["scaleUp"]["tolerance"] == written
    assert behavior["scaleDown"]["tolerance"] == "50m"
    assert conversion.notes == ()


@pytest.mark.parametrize("source_field", ["resource", "pods", "object", "external"])
def test_fractional_target_values_are_kept_as_numbers(source_field: str) -> None:
    metric = {"type": "X", source_field: {"target": {"type": "AverageValue", "averageValue": 0.5}}}

    spec = convert_hpa(hpa(metrics=[metric])).autoscaler["spec"]

    assert spec["metrics"][0][source_field]["target"]["averageValue"] == 0.5


def test_integer_and_string_quantities_are_left_alone() -> None:
    external = {
        "type": "External",
        "external": {
            "metric": {"name": "queue"},
            "target": {"type": "Value", "value": 30, "averageValue": "500m"},
        },
    }

    conversion = convert_hpa(hpa(metrics=[external]))

    target = conversion.autoscaler["spec"]["metrics"][0]["external"]["target"]
    assert target == {"type": "Value", "value": 30, "averageValue": "500m"}
    assert conversion.notes == ()


# --- autoscaling/v1 ----------------------------------------------------------------------------


def test_v1_cpu_target_becomes_a_resource_utilization_metric() -> None:
    source = hpa("autoscaling/v1", minReplicas=1, targetCPUUtilizationPercentage=60)

    spec = convert_hpa(source).autoscaler["spec"]

    assert "targetCPUUtilizationPercentage" not in spec
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    assert spec["minReplicas"] == 1


def test_v1_without_cpu_target_leaves_metrics_to_the_default() -> None:
    spec = convert_hpa(hpa("autoscaling/v1")).autoscaler["spec"]

    assert "metrics" not in spec


def test_v1_with_v2_fields_hidden_in_annotations_is_refused() -> None:
    source = hpa("autoscaling/v1", targetCPUUtilizationPercentage=60)
    source["metadata"]["annotations"] = {"autoscaling.alpha.kubernetes.io/metrics": "[]"}

    with pytest.raises(ConversionError, match=r"hpa\.v2\.autoscaling"):
        convert_hpa(source)


def test_v1_status_annotations_are_dropped() -> None:
    source = hpa("autoscaling/v1", targetCPUUtilizationPercentage=60)
    source["metadata"]["annotations"] = {
        "autoscaling.alpha.kubernetes.io/conditions": "[]",
        "autoscaling.alpha.kubernetes.io/current-metrics": "[]",
    }

    assert "annotations" not in convert_hpa(source).autoscaler["metadata"]


# --- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
            "apps/v1 Deployment 'web' is not a HorizontalPodAutoscaler",
        ),
        (
            {**hpa(), "apiVersion": "autoscaling/v2beta1"},
            "autoscaling/v2beta1 uses an older metric layout",
        ),
        ({**hpa(), "apiVersion": "autoscaling/v3"}, "unsupported apiVersion"),
        ({**hpa(), "apiVersion": ["autoscaling/v2"]}, "unsupported apiVersion"),
        ({**hpa(), "kind": ["HorizontalPodAutoscaler"]}, "is not a HorizontalPodAutoscaler"),
        ({**hpa(), "apiVersion": 5, "metadata": ["web"]}, "5 HorizontalPodAutoscaler: unsupported"),
        (
            {**hpa(), "apiVersion": AUTOSCALER_API_VERSION, "kind": AUTOSCALER_KIND},
            "is already an Autoscaler",
        ),
        ({**hpa(), "spec": None}, "has no spec"),
        ({key: value for key, value in hpa().items() if key != "metadata"}, "no metadata"),
        (
            {**hpa(), "metadata": {"name": "web", "annotations": {1: "x"}}},
            r"^metadata\.annotations: key 1 is not a string: quote it$",
        ),
        (
            {**hpa(), "metadata": {"name": "web", "labels": {True: "x"}}},
            r"^metadata\.labels: key True is not a string: quote it$",
        ),
        (
            {**hpa(), "metadata": {"name": "web", "labels": ["app"]}},
            r"^metadata\.labels must be an object, not \['app'\]$",
        ),
        (["not", "an", "object"], "expected a Kubernetes object, got list"),
        ("text", "expected a Kubernetes object, got str"),
    ],
    ids=[
        "other-kind",
        "v2beta1",
        "unknown-version",
        "version-not-a-string",
        "kind-not-a-string",
        "metadata-not-an-object",
        "already-autoscaler",
        "no-spec",
        "no-metadata",
        "number-as-annotation-key",
        "boolean-as-label-key",
        "labels-not-an-object",
        "list",
        "scalar",
    ],
)
def test_refused_documents_say_why(document: object, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert_hpa(document)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ConversionError, match="mode must be one of Active, DryRun"):
        convert_hpa(hpa(), mode="Shadow")


def test_mode_is_set_when_asked() -> None:
    assert convert_hpa(hpa(), mode="DryRun").autoscaler["spec"]["mode"] == "DryRun"


# --- streams of documents ----------------------------------------------------------------------


def test_empty_documents_are_skipped_and_lists_are_expanded() -> None:
    other = hpa()
    other["metadata"]["name"] = "api"
    documents = [None, {"apiVersion": "v1", "kind": "List", "items": [hpa(), other]}, None]

    names = [c.autoscaler["metadata"]["name"] for c in convert_documents(documents)]

    assert names == ["web", "api"]


def test_a_list_whose_items_are_not_a_list_is_refused() -> None:
    with pytest.raises(ConversionError, match="items that are not a list"):
        list(convert_documents([{"kind": "List", "items": {"a": 1}}]))


@pytest.mark.parametrize("path", HPA_FILES, ids=[path.stem for path in HPA_FILES])
def test_every_test_manifest_converts(path: Path) -> None:
    conversions = list(convert_documents(yaml.safe_load_all(path.read_text())))

    assert conversions
    for conversion in conversions:
        assert conversion.autoscaler["kind"] == AUTOSCALER_KIND
        assert set(conversion.autoscaler) == {"apiVersion", "kind", "metadata", "spec"}


def test_the_test_manifests_cover_every_metric_and_target_type() -> None:
    seen: set[tuple[str, str]] = set()
    versions: set[str] = set()
    for path in HPA_FILES:
        for document in yaml.safe_load_all(path.read_text()):
            versions.add(document["apiVersion"])
            for metric in document["spec"].get("metrics", []):
                source = metric[metric["type"][0].lower() + metric["type"][1:]]
                seen.add((metric["type"], source["target"]["type"]))

    assert seen >= {
        ("Resource", "Utilization"),
        ("Resource", "AverageValue"),
        ("ContainerResource", "Utilization"),
        ("ContainerResource", "AverageValue"),
        ("Pods", "AverageValue"),
        ("Object", "Value"),
        ("Object", "AverageValue"),
        ("External", "Value"),
        ("External", "AverageValue"),
    }
    assert versions == {"autoscaling/v1", "autoscaling/v2", "autoscaling/v2beta2"}


# --- the podpilot convert command --------------------------------------------------------------


def test_command_converts_files_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(HPA_DIR / "cpu-utilization.yaml"), str(HPA_DIR / "v1-cpu.yaml")]

    assert podpilot_main(["convert", *files]) == 0

    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in documents] == ["web", "php-apache"]
    assert {d["kind"] for d in documents} == {AUTOSCALER_KIND}


def test_command_takes_files_with_f_as_kubectl_convert(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = HPA_DIR / "cpu-utilization.yaml", HPA_DIR / "v1-cpu.yaml"

    assert (
        podpilot_main(["convert", "-f", str(first), "--filename", str(second), "-o", "name"]) == 0
    )

    assert capsys.readouterr().out.split() == [
        "autoscaler.podpilot.io/web",
        "autoscaler.podpilot.io/php-apache",
    ]


def test_command_reads_stdin_and_writes_the_output_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(hpa())))
    output = tmp_path / "autoscalers.yaml"

    assert podpilot_main(["convert", "--mode", "DryRun", "--output-file", str(output), "-"]) == 0

    assert capsys.readouterr().out == ""
    (document,) = yaml.safe_load_all(output.read_text())
    assert document["spec"]["mode"] == "DryRun"


def test_command_prints_json_as_kubectl_does(capsys: pytest.CaptureFixture[str]) -> None:
    one = str(HPA_DIR / "cpu-utilization.yaml")
    two = str(HPA_DIR / "v1-cpu.yaml")

    assert podpilot_main(["convert", "-o", "json", one]) == 0
    single = json.loads(capsys.readouterr().out)
    assert podpilot_main(["convert", "-o", "json", one, two]) == 0
    several = json.loads(capsys.readouterr().out)

    assert (single["kind"], single["metadata"]["name"]) == (AUTOSCALER_KIND, "web")
    assert several["kind"] == "List"
    assert [item["metadata"]["name"] for item in several["items"]] == ["web", "php-apache"]


def test_the_old_output_file_usage_fails_with_a_hint_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        podpilot_main(["convert", str(HPA_DIR / "cpu-utilization.yaml"), "-o", "out.yaml"])

    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert 'the output format "out.yaml", allowed formats are: json,name,yaml' in error
    assert "--output-file out.yaml" in error
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_output_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-directory" / "out.yaml"
    argv = ["convert", str(HPA_DIR / "cpu-utilization.yaml"), "--output-file", str(target)]

    assert podpilot_main(argv) == 1

    assert capsys.readouterr().err.splitlines() == [
        f"podpilot convert: error: cannot write {target}: No such file or directory"
    ]


def test_command_writes_nothing_when_a_document_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "mixed.yaml"
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    manifest.write_text(yaml.safe_dump_all([hpa(), deployment]))

    assert podpilot_main(["convert", str(manifest)]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{manifest}, document 2: apps/v1 Deployment 'web' is not a" in captured.err


def test_command_reports_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"

    assert podpilot_main(["convert", str(missing)]) == 1

    assert f"{missing}: cannot read" in capsys.readouterr().err


def test_convert_reads_and_writes_with_libyaml_when_pyyaml_has_it() -> None:
    from podpilot.commands import convert
    from podpilot.commands.go_yaml import MANIFEST_LOADER

    if yaml.__with_libyaml__:
        assert issubclass(MANIFEST_LOADER, yaml.CSafeLoader)
        assert issubclass(convert.YAML_DUMPER, yaml.CSafeDumper)
    else:
        assert issubclass(MANIFEST_LOADER, yaml.SafeLoader)


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"name": "web"}, True),
        ({"generateName": "web-"}, True),
        ({"namespace": "shop"}, False),
        ({"name": ""}, False),
        ({"name": 5}, False),
    ],
    ids=["name", "generate-name", "none", "empty", "not-text"],
)
def test_a_manifest_needs_a_name_or_a_generated_one(metadata: dict[str, Any], named: bool) -> None:
    converted = convert_hpa({**hpa(), "metadata": metadata}).autoscaler
    if named:
        require_name(converted)
    else:
        with pytest.raises(ConversionError, match=r"^metadata\.name is required"):
            require_name(converted)
