"""Offline checks of crds/autoscalers.podpilot.io.yaml: documentation, cost bounds, HPA fit.

The CEL rules themselves need an apiserver; tests/e2e/test_autoscaler_crd.py runs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from podpilot.autoscaler.api.conversion import convert_documents
from podpilot.autoscaler.api.spec import MetricSpec, MetricTarget
from podpilot.autoscaler.api.status import metric_label
from podpilot.autoscaler.api.takeover_from import TakeoverRecord, record_to_status

ROOT = Path(__file__).parents[2]
CRD_PATH = ROOT / "crds" / "autoscalers.podpilot.io.yaml"
HPA_FILES = sorted((ROOT / "tests" / "data" / "hpa").glob("*.yaml"))
INVALID_FILES = sorted((ROOT / "tests" / "data" / "invalid-autoscalers").glob("*.yaml"))

Schema = Mapping[str, Any]
INT32 = (-(2**31), 2**31 - 1)


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return document


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only_version,) = crd["spec"]["versions"]
    result: dict[str, Any] = only_version
    return result


@pytest.fixture(scope="module")
def schema(version: dict[str, Any]) -> Schema:
    result: Schema = version["schema"]["openAPIV3Schema"]
    return result


def walk(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node below ``node`` with its dotted path (``[]`` for list items)."""
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from walk(child, child_path)
    if "items" in node:
        yield f"{path}[]", node["items"]
        yield from walk(node["items"], f"{path}[]")
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield f"{path}{{}}", additional
        yield from walk(additional, f"{path}{{}}")


def is_quantity_leaf(node: Schema) -> bool:
    """An untyped leaf that holds only a number or a quantity string (no object, no list)."""
    return (
        bool(node.get("x-kubernetes-preserve-unknown-fields"))
        and "type" not in node
        and node.get("maxProperties") == 0
        and node.get("maxItems") == 0
        and "pattern" in node
        and "maxLength" in node
    )


def structural_errors(value: object, node: Schema, path: str) -> list[str]:
    """Check ``value`` against types, enums, patterns, bounds and known fields (not CEL)."""
    if is_quantity_leaf(node):  # number or string, as the HPA's quantities
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return [f"{path}: {value!r} is neither a number nor a string"]
        if isinstance(value, str) and not re.search(node["pattern"], value):
            return [f"{path}: {value!r} is not a quantity"]
        return []
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: {value!r} is neither an integer nor a string"]
        if isinstance(value, str) and not re.search(node["pattern"], value):
            return [f"{path}: {value!r} is not a quantity"]
        return []
    kind = node.get("type")
    if kind == "object":
        return object_errors(value, node, path)
    if kind == "array":
        return array_errors(value, node, path)
    if kind == "string":
        return string_errors(value, node, path)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer, got {value!r}"]
        if node.get("format") == "int32" and not INT32[0] <= value <= INT32[1]:
            return [f"{path}: {value} is out of the int32 range"]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    raise AssertionError(f"{path}: the checker does not know schema type {kind!r}")


def array_errors(value: object, node: Schema, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected a list"]
    errors = []
    if len(value) > node["maxItems"]:
        errors.append(f"{path}: more than {node['maxItems']} items")
    for index, item in enumerate(value):
        errors += structural_errors(item, node["items"], f"{path}[{index}]")
    return errors


def string_errors(value: object, node: Schema, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected a string, got {value!r}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{path}: {value!r} is not one of {node['enum']}"]
    if "pattern" in node and not re.search(node["pattern"], value):
        return [f"{path}: {value!r} does not match {node['pattern']}"]
    if "maxLength" in node and len(value) > node["maxLength"]:
        return [f"{path}: longer than {node['maxLength']}"]
    return []


def object_errors(value: object, node: Schema, path: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected an object"]
    errors = [f"{path}.{key}: required" for key in node.get("required", []) if key not in value]
    properties = node.get("properties", {})
    additional = node.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            errors += structural_errors(item, properties[key], f"{path}.{key}")
        elif isinstance(additional, Mapping):
            errors += structural_errors(item, additional, f"{path}.{key}")
        elif not properties:
            continue  # metadata: the apiserver's own schema applies
        else:
            errors.append(f"{path}.{key}: unknown field")
    return errors


# --- the CRD's shape ---------------------------------------------------------------------------


def test_crd_identity(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "autoscalers.podpilot.io"
    assert crd["spec"]["group"] == "podpilot.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "Autoscaler"
    assert "pas" in crd["spec"]["names"]["shortNames"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_status_subresource_only(version: dict[str, Any]) -> None:
    assert version["subresources"] == {"status": {}}


def test_printer_columns_start_with_kubectl_get_hpa_columns(version: dict[str, Any]) -> None:
    columns = [column["name"] for column in version["additionalPrinterColumns"]]

    assert columns == [
        "Reference",
        "Targets",
        "MinPods",
        "MaxPods",
        "Replicas",
        "Age",
        "Mode",
        "Status",
    ]


def test_printer_columns_point_at_declared_fields(version: dict[str, Any], schema: Schema) -> None:
    declared = {path for path, _ in walk(schema)}
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].lstrip(".")
        assert path.startswith("metadata.") or path in declared, column


def test_every_field_has_a_description(schema: Schema) -> None:
    undocumented = [
        path
        for path, node in walk(schema)
        if path != "metadata" and not str(node.get("description", "")).strip()
    ]

    assert undocumented == []


def test_strings_and_lists_are_bounded_for_cel_cost(schema: Schema) -> None:
    unbounded = [
        path
        for path, node in walk(schema)
        if (node.get("type") == "string" and not {"maxLength", "enum", "format"} & set(node))
        or (node.get("x-kubernetes-int-or-string") and "maxLength" not in node)
        or (node.get("type") == "array" and "maxItems" not in node)
        or (
            node.get("type") == "object"
            and "additionalProperties" in node
            and "maxProperties" not in node
        )
    ]

    assert unbounded == []


def test_no_field_escapes_pruning_but_the_quantity_leaves(schema: Schema) -> None:
    unpruned = [
        path for path, node in walk(schema) if node.get("x-kubernetes-preserve-unknown-fields")
    ]

    assert [path for path in unpruned if not is_quantity_leaf(dict(walk(schema))[path])] == []
    assert len(unpruned) == 17


def test_every_rule_message_names_a_spec_field(schema: Schema) -> None:
    rules = [
        (path, rule)
        for path, node in walk(schema)
        for rule in node.get("x-kubernetes-validations", [])
    ]

    assert len(rules) >= 40
    assert [
        (path, rule["message"]) for path, rule in rules if not rule["message"].startswith("spec.")
    ] == []


@pytest.mark.parametrize(
    ("text", "is_quantity"),
    [
        ("500m", True),
        ("2Gi", True),
        ("0.05", True),
        ("1e3", True),
        ("-1", True),
        ("lots", False),
        ("5 Mi", False),
        ("", False),
    ],
)
def test_quantity_pattern(schema: Schema, text: str, is_quantity: bool) -> None:
    target = schema["properties"]["spec"]["properties"]["metrics"]["items"]["properties"]
    pattern = target["external"]["properties"]["target"]["properties"]["value"]["pattern"]

    assert bool(re.search(pattern, text)) is is_quantity


# --- defaults mirror the HPA's API defaulting --------------------------------------------------


def test_defaults_mirror_the_hpa(schema: Schema) -> None:
    spec = schema["properties"]["spec"]["properties"]
    scale_up = spec["behavior"]["properties"]["scaleUp"]["properties"]
    scale_down = spec["behavior"]["properties"]["scaleDown"]["properties"]

    assert spec["minReplicas"]["default"] == 1
    assert spec["metrics"]["default"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert "default" not in spec["behavior"]
    assert scale_up["stabilizationWindowSeconds"]["default"] == 0
    assert scale_up["policies"]["default"] == [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]
    assert "default" not in scale_down["stabilizationWindowSeconds"]
    assert scale_down["policies"]["default"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15}
    ]
    assert (spec["evaluationPeriodSeconds"]["default"], spec["paused"]["default"]) == (15, False)
    assert spec["mode"]["default"] == "Active"


# --- the HPA test manifests fit the schema once converted --------------------------------------


@pytest.mark.parametrize("path", HPA_FILES, ids=[path.stem for path in HPA_FILES])
def test_converted_hpa_manifest_fits_the_schema(schema: Schema, path: Path) -> None:
    for conversion in convert_documents(yaml.safe_load_all(path.read_text())):
        assert structural_errors(conversion.autoscaler, schema, "") == []


def test_the_takeover_record_fits_the_status_schema(schema: Schema) -> None:
    record = TakeoverRecord("hpa/web", 1_800_000_000.5, 4, complete=True)
    status = {"takeover": record_to_status(record)}
    assert structural_errors(status, schema["properties"]["status"], ".status") == []
    status["takeover"]["fromHpa"] = "web"
    errors = structural_errors(status, schema["properties"]["status"], ".status")
    assert errors == [".status.takeover.fromHpa: unknown field"]


def test_the_checker_catches_a_misspelt_field(schema: Schema) -> None:
    (conversion,) = convert_documents(yaml.safe_load_all((HPA_FILES[0]).read_text()))
    conversion.autoscaler["spec"]["maxReplica"] = 3

    assert ".spec.maxReplica: unknown field" in structural_errors(conversion.autoscaler, schema, "")


# --- the invalid manifests are well-formed test data -------------------------------------------


def test_there_are_at_least_thirty_invalid_manifests() -> None:
    assert len(INVALID_FILES) >= 30


@pytest.mark.parametrize("path", INVALID_FILES, ids=[path.stem for path in INVALID_FILES])
def test_invalid_manifest_states_an_expectation_naming_a_field(path: Path) -> None:
    first_line = path.read_text().splitlines()[0]
    document = yaml.safe_load(path.read_text())

    assert first_line.startswith("# expect: spec.")
    assert document["apiVersion"] == "podpilot.io/v1alpha1"
    assert document["kind"] == "Autoscaler"
    assert document["metadata"]["name"] == path.stem


def test_the_longest_metric_label_the_spec_allows_fits_the_status(version: dict[str, Any]) -> None:
    """A ContainerResource's label is ``container/resource``: were the status field shorter than
    the longest one the spec admits, the status write would be refused, and with it the pending
    rescale record every /scale patch waits for, so the Autoscaler would never scale."""
    root = version["schema"]["openAPIV3Schema"]["properties"]
    metric = root["spec"]["properties"]["metrics"]["items"]["properties"]
    block = metric["containerResource"]["properties"]
    decided = root["status"]["properties"]["lastDecision"]["properties"]["metrics"]["items"]
    decided = decided["properties"]
    longest = MetricSpec(
        type="ContainerResource",
        target=MetricTarget(type="Utilization", average_utilization=50),
        container="c" * block["container"]["maxLength"],
        resource="r" * block["name"]["maxLength"],
    )
    assert len(metric_label(longest)) <= decided["name"]["maxLength"]
