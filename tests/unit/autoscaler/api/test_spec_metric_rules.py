"""``parse_spec`` holds each entry of ``spec.metrics`` to the CRD's rules (required fields,
enums, bounds, and the CEL rules that tie a target's type to its metric type and to its one
value), for files that never met an apiserver: what the CRD refuses is a ``SpecError`` naming
the field, and what it accepts is parsed."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from podpilot.apimachinery.selectors import SELECTOR_OPERATORS
from podpilot.autoscaler.api.spec import (
    EMPTY_RESULTS,
    REDUCTIONS,
    SOURCE_RULES,
    TARGET_TYPES,
    SpecError,
    parse_spec,
)

ROOT = Path(__file__).parents[4]
FIXTURES = ROOT / "tests" / "data" / "invalid-autoscalers"
CRD = ROOT / "crds" / "autoscalers.podpilot.io.yaml"
METRIC_ENTRY_FIELD = re.compile(r"^# expect: (spec\.metrics\[\d*\]\.[^\s:]+)")
TARGETS = {
    "Utilization": {"type": "Utilization", "averageUtilization": 50},
    "Value": {"type": "Value", "value": "100"},
    "AverageValue": {"type": "AverageValue", "averageValue": "500m"},
}
BLOCKS: dict[str, dict[str, Any]] = {
    "Resource": {"name": "cpu"},
    "ContainerResource": {"name": "cpu", "container": "app"},
    "Pods": {"metric": {"name": "requests_per_second"}},
    "Object": {
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
        "metric": {"name": "requests_per_second"},
    },
    "External": {"metric": {"name": "queue_depth"}},
    "Prometheus": {"serverRef": {"name": "main"}, "query": "sum(rate(http_requests_total[2m]))"},
}
BLOCK_NAMES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
    "Prometheus": "prometheus",
}


def metric(metric_type: str, target_type: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid entry of ``metric_type`` with its first allowed target (or ``target_type``'s),
    its block's ``fields`` replaced (None removes one)."""
    target_type = target_type or SOURCE_RULES[metric_type].target_types[0]
    block = {**copy.deepcopy(BLOCKS[metric_type]), "target": dict(TARGETS[target_type])}
    for key, value in fields.items():
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    return {"type": metric_type, BLOCK_NAMES[metric_type]: block}


def spec(*metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 5,
        "metrics": list(metrics),
    }


def refusal(*metrics: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as refused:
        parse_spec(spec(*metrics))
    return str(refused.value)


def metric_entry_fixtures() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        match = METRIC_ENTRY_FIELD.match(path.read_text(encoding="utf-8").splitlines()[0])
        if match:
            found.append((path, match.group(1)))
    return found


FOUND = metric_entry_fixtures()


def without_indices(text: str) -> str:
    """The CRD's CEL messages say ``spec.metrics[]``: they cannot know the index."""
    return re.sub(r"\[\d+\]", "[]", text)


def test_the_metric_fixtures_are_found() -> None:
    assert len(FOUND) >= 30


@pytest.mark.parametrize(("path", "field"), FOUND, ids=[path.stem for path, _ in FOUND])
def test_every_invalid_metric_fixture_is_refused_naming_its_field(path: Path, field: str) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))

    with pytest.raises(SpecError) as refused:
        parse_spec(document["spec"])

    named = re.split(r"[\s:]", str(refused.value), maxsplit=1)[0]
    assert without_indices(named) == without_indices(field)


PER_POD = "for this metric source; a Value target is not defined for per-pod resources"
NOT_A_RESOURCE = "for this metric source; Utilization is only defined for resource metrics"
ONLY_ITS_FIELD = "set only the field that target.type names"


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        pytest.param(
            metric("Resource", target={"type": "Utilization"}),
            "spec.metrics[1].resource.target.averageUtilization must be set if and only if "
            f"target.type is Utilization; {ONLY_ITS_FIELD}",
            id="utilization-without-its-percent",
        ),
        pytest.param(
            metric("Resource", target=None),
            "spec.metrics[1].resource.target: Required value",
            id="no-target",
        ),
        pytest.param(
            metric("Resource", target={"type": "Utilization", "averageUtilization": 0}),
            "spec.metrics[1].resource.target.averageUtilization must be at least 1 (percent of "
            "the pods' requests), not 0",
            id="utilization-zero",
        ),
        pytest.param(
            metric("ContainerResource", target={"type": "Utilization", "averageUtilization": -5}),
            "spec.metrics[1].containerResource.target.averageUtilization must be at least 1 "
            "(percent of the pods' requests), not -5",
            id="utilization-negative",
        ),
        pytest.param(
            metric("Resource", target={"type": "Utilization", "averageUtilization": "50%"}),
            "spec.metrics[1].resource.target.averageUtilization must be an integer (int32), "
            "not '50%'",
            id="utilization-not-an-integer",
        ),
        pytest.param(
            metric("Resource", "Value"),
            f"spec.metrics[1].resource.target.type must be Utilization or AverageValue {PER_POD}",
            id="value-target-on-resource",
        ),
        pytest.param(
            metric("ContainerResource", "Value"),
            "spec.metrics[1].containerResource.target.type must be Utilization or AverageValue "
            f"{PER_POD}",
            id="value-target-on-container-resource",
        ),
        pytest.param(
            metric("Pods", "Utilization"),
            "spec.metrics[1].pods.target.type must be AverageValue for this metric source; pod "
            "metrics are always averaged over the pods",
            id="utilization-target-on-pods",
        ),
        pytest.param(
            metric("Pods", "Value"),
            "spec.metrics[1].pods.target.type must be AverageValue for this metric source; pod "
            "metrics are always averaged over the pods",
            id="value-target-on-pods",
        ),
        pytest.param(
            metric("Object", "Utilization"),
            f"spec.metrics[1].object.target.type must be Value or AverageValue {NOT_A_RESOURCE}",
            id="utilization-target-on-object",
        ),
        pytest.param(
            metric("External", "Utilization"),
            f"spec.metrics[1].external.target.type must be Value or AverageValue {NOT_A_RESOURCE}",
            id="utilization-target-on-external",
        ),
        pytest.param(
            metric("Prometheus", "Utilization"),
            "spec.metrics[1].prometheus.target.type must be Value or AverageValue "
            f"{NOT_A_RESOURCE}",
            id="utilization-target-on-prometheus",
        ),
        pytest.param(
            metric("External", target={"type": "AverageValue", "averageUtilization": 50}),
            "spec.metrics[1].external.target.averageUtilization must be set if and only if "
            f"target.type is Utilization; {ONLY_ITS_FIELD}",
            id="percent-beside-another-target-type",
        ),
        pytest.param(
            metric("Resource", target={"type": "Foo", "averageUtilization": 50}),
            'spec.metrics[1].resource.target.type: Unsupported value: "Foo": supported values: '
            '"Utilization", "Value", "AverageValue"',
            id="target-type-unknown",
        ),
        pytest.param(
            metric("Resource", target={"averageUtilization": 50}),
            "spec.metrics[1].resource.target.type: Required value",
            id="target-type-missing",
        ),
        pytest.param(
            {**metric("Resource"), "type": "Foo"},
            'spec.metrics[1].type: Unsupported value: "Foo": supported values: "Resource", '
            '"ContainerResource", "Pods", "Object", "External", "Prometheus"',
            id="metric-type-unknown",
        ),
        pytest.param(
            {"resource": metric("Resource")["resource"]},
            "spec.metrics[1].type: Required value",
            id="metric-type-missing",
        ),
        pytest.param(
            {"type": "Pods", "resource": metric("Resource")["resource"]},
            "spec.metrics[1].pods must be set if and only if type is Pods; keep exactly the "
            "source block that type names",
            id="type-without-its-block",
        ),
        pytest.param(
            {**metric("Resource"), "external": metric("External")["external"]},
            "spec.metrics[1].external must be set if and only if type is External; keep exactly "
            "the source block that type names",
            id="another-block-beside",
        ),
        pytest.param(
            metric("Prometheus", reduction="Foo"),
            'spec.metrics[1].prometheus.reduction: Unsupported value: "Foo": supported values: '
            '"Sum", "Max", "Min", "Average"',
            id="reduction-unknown",
        ),
        pytest.param(
            metric("Prometheus", emptyResult="Foo"),
            'spec.metrics[1].prometheus.emptyResult: Unsupported value: "Foo": supported '
            'values: "Error", "Zero"',
            id="empty-result-unknown",
        ),
        pytest.param(
            metric("Prometheus", serverRef={"name": ""}),
            "spec.metrics[1].prometheus.serverRef.name must name a Prometheus server",
            id="server-unnamed",
        ),
        pytest.param(
            metric("Prometheus", query=" \n"),
            "spec.metrics[1].prometheus.query must be a non-empty PromQL query",
            id="query-blank",
        ),
        pytest.param(
            metric("Prometheus", query=None),
            "spec.metrics[1].prometheus.query: Required value",
            id="query-missing",
        ),
        pytest.param(
            metric("Resource", name=""),
            "spec.metrics[1].resource.name must name a resource such as cpu",
            id="resource-unnamed",
        ),
        pytest.param(
            metric("ContainerResource", container=None),
            "spec.metrics[1].containerResource.container: Required value",
            id="container-missing",
        ),
        pytest.param(
            metric("ContainerResource", container="App_Main"),
            'spec.metrics[1].containerResource.container: Invalid value: "App_Main": should '
            "match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
            id="container-not-a-dns-label",
        ),
        pytest.param(
            metric("External", metric={"name": ".."}),
            "spec.metrics[1].external.metric.name must be a non-empty metric name without '/' "
            "or '%'",
            id="metric-name-dot-dot",
        ),
        pytest.param(
            metric("Pods", metric={"name": "x" * 254}),
            "spec.metrics[1].pods.metric.name: Too long: may not be longer than 253",
            id="metric-name-too-long",
        ),
        pytest.param(
            metric("Object", describedObject={"kind": "Ingress"}),
            "spec.metrics[1].object.describedObject.name: Required value",
            id="described-object-unnamed",
        ),
        pytest.param(
            metric("Object", describedObject={"kind": "a/b", "name": "web"}),
            "spec.metrics[1].object.describedObject.kind must be a non-empty kind name without "
            "'/' or '%', for example Deployment",
            id="described-kind-with-slash",
        ),
        pytest.param(
            metric(
                "External",
                metric={
                    "name": "queue_depth",
                    "selector": {"matchExpressions": [{"key": "q", "operator": "Gt"}]},
                },
            ),
            "spec.metrics[1].external.metric.selector.matchExpressions[0].operator: Unsupported "
            'value: "Gt": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
            id="selector-operator-unknown",
        ),
        pytest.param(
            metric("External", metric={"name": "q", "selector": {"matchLabels": {"q": 1}}}),
            "spec.metrics[1].external.metric.selector.matchLabels.q must be a string, not 1",
            id="selector-label-not-a-string",
        ),
    ],
)
def test_what_the_crd_refuses_is_refused_naming_the_field(entry: dict[str, Any], said: str) -> None:
    assert refusal(metric("Resource"), entry) == said


def crd_metric_schema() -> dict[str, Any]:
    """The schema of an entry of spec.metrics, as the CRD states it."""
    (version,) = yaml.safe_load(CRD.read_text(encoding="utf-8"))["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return dict(schema["properties"]["metrics"]["items"])


def crd_target_types(block: dict[str, Any]) -> set[str]:
    """The target types the CEL rule ``self.type in [...]`` of a block's target allows."""
    rules = [rule["rule"] for rule in block["properties"]["target"]["x-kubernetes-validations"]]
    (allowed,) = [rule for rule in rules if rule.startswith("self.type in [")]
    return set(re.findall(r"'(\w+)'", allowed))


METRIC_SCHEMA = crd_metric_schema()
TYPE_PAIRS = [
    (metric_type, target_type) for metric_type in SOURCE_RULES for target_type in TARGET_TYPES
]


@pytest.mark.parametrize(("metric_type", "target_type"), TYPE_PAIRS)
def test_a_target_type_is_taken_exactly_where_the_crd_takes_it(
    metric_type: str, target_type: str
) -> None:
    block = METRIC_SCHEMA["properties"][BLOCK_NAMES[metric_type]]
    entry = metric(metric_type, target_type)

    if target_type in crd_target_types(block):
        assert parse_spec(spec(entry)).metrics[0].target.type == target_type
    else:
        assert f"{BLOCK_NAMES[metric_type]}.target.type must be " in refusal(entry)


def test_the_required_fields_and_enums_are_the_crds() -> None:
    blocks = METRIC_SCHEMA["properties"]
    prometheus = blocks["prometheus"]["properties"]
    selector = blocks["external"]["properties"]["metric"]["properties"]["selector"]
    requirement = selector["properties"]["matchExpressions"]["items"]

    assert {name: tuple(blocks[BLOCK_NAMES[name]]["required"]) for name in SOURCE_RULES} == {
        name: rules.required for name, rules in SOURCE_RULES.items()
    }
    assert tuple(METRIC_SCHEMA["properties"]["type"]["enum"]) == tuple(SOURCE_RULES)
    assert tuple(blocks["pods"]["properties"]["target"]["properties"]["type"]["enum"]) == (
        TARGET_TYPES
    )
    assert (tuple(prometheus["reduction"]["enum"]), tuple(prometheus["emptyResult"]["enum"])) == (
        REDUCTIONS,
        EMPTY_RESULTS,
    )
    assert tuple(requirement["properties"]["operator"]["enum"]) == tuple(SELECTOR_OPERATORS)
    assert requirement["required"] == ["key", "operator"]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(
            metric("Resource", target={"type": "Utilization", "averageUtilization": 50.0}),
            id="whole-float-percent",
        ),
        pytest.param(
            metric("Resource", target={"type": "Utilization", "averageUtilization": 1}),
            id="one-percent",
        ),
        pytest.param(
            metric(
                "External",
                target={"type": "AverageValue", "averageValue": "1", "value": None},
            ),
            id="null-field-as-unset",
        ),
        pytest.param(
            {
                "type": "Prometheus",
                "prometheus": {
                    **BLOCKS["Prometheus"],
                    "target": TARGETS["Value"],
                    "reduction": None,
                },
            },
            id="null-enum",
        ),
        pytest.param(metric("Prometheus", reduction="Average", emptyResult="Zero"), id="enums"),
        pytest.param(metric("Prometheus", query="  up  "), id="query-padded"),
        pytest.param(metric("ContainerResource", container="a"), id="one-letter-container"),
        pytest.param(
            metric("Object", describedObject={"kind": "v1.Thing", "name": "a.b"}),
            id="described-without-api-version",
        ),
        pytest.param(
            metric(
                "Pods",
                metric={
                    "name": "http.requests",
                    "selector": {
                        "matchLabels": {"route": "/"},
                        "matchExpressions": [{"key": "q", "operator": "Exists"}],
                    },
                },
            ),
            id="selector",
        ),
    ],
)
def test_what_the_crd_takes_is_parsed(entry: dict[str, Any]) -> None:
    (parsed,) = parse_spec(spec(entry)).metrics

    assert parsed.type == entry["type"]


def test_a_prometheus_metric_without_its_defaults_takes_the_crds() -> None:
    (parsed,) = parse_spec(spec(metric("Prometheus"))).metrics

    assert parsed.prometheus is not None
    assert (parsed.prometheus.reduction, parsed.prometheus.empty_result) == ("Sum", "Error")


def test_a_described_object_with_a_null_api_version_has_none() -> None:
    """YAML's ``apiVersion:`` (null) is as if unset, as the apiserver drops null fields."""
    described = {"apiVersion": None, "kind": "Ingress", "name": "web"}
    parsed = parse_spec(spec(metric("Object", describedObject=described)))
    reference = parsed.metrics[0].described_object
    assert reference is not None and reference.api_version == ""
