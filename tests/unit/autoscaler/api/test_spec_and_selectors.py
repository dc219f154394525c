"""Pure parts of the Autoscaler controller: spec parsing, selectors, quantities, durations."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from podpilot.apimachinery.quantities import format_milli
from podpilot.apimachinery.selectors import (
    SelectorError,
    format_selector,
    parse_selector,
    selector_from_object,
)
from podpilot.autoscaler.api.conversion import convert_documents
from podpilot.autoscaler.api.spec import FallbackPolicy, Mode, parse_spec
from podpilot.autoscaler.engine import PolicyType, SelectPolicy

HPA_DIR = pathlib.Path(__file__).resolve().parents[3] / "data" / "hpa"


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app==web,tier!=cache", {"app": "web", "tier": "front"}, True),
        ("app=web,tier!=cache", {"app": "web", "tier": "cache"}, False),
        ("tier in (a, b),app", {"tier": "b", "app": "x"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("tier notin (a,b)", {}, True),
        ("!canary", {"canary": "1"}, False),
        ("gen>3", {"gen": "4"}, True),
        ("gen<3", {"gen": "x"}, False),
        ("", {"anything": "goes"}, True),
    ],
)
def test_label_selector_string_matches_like_kubernetes(
    text: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize("text", ["tier in (a,b", "tier in a,b)", "app web"])
def test_malformed_selectors_are_refused(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_label_selector_object_renders_as_the_query_string() -> None:
    selector = selector_from_object(
        {
            "matchLabels": {"queue": "jobs"},
            "matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["b", "a"]},
                {"key": "old", "operator": "DoesNotExist"},
            ],
        }
    )
    assert format_selector(selector) == "queue=jobs,zone in (a,b),!old"
    assert parse_selector(format_selector(selector)).matches({"queue": "jobs", "zone": "a"})


@pytest.mark.parametrize(
    ("milli", "text"),
    [(1500, "1500m"), (2000, "2"), (3_000_000, "3k"), (314572800000, "314572800"), (0, "0")],
)
def test_milli_values_format_like_go_decimal_si(milli: int, text: str) -> None:
    assert format_milli(milli) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_formatted_milli_values_parse_back(milli: int) -> None:
    from podpilot.apimachinery.quantities import milli_value, parse_quantity

    assert milli_value(parse_quantity(format_milli(milli))) == milli


def test_spec_parses_the_extensions_and_behavior() -> None:
    spec = parse_spec(
        {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 9,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
                        "target": {"type": "AverageValue", "averageValue": "1500m"},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "selectPolicy": "Min",
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
                    "tolerance": "0.05",
                },
                "scaleDown": {"selectPolicy": "Disabled"},
            },
            "mode": "DryRun",
            "paused": True,
            "evaluationPeriodSeconds": 30,
            "fallback": {"policy": "Static", "replicas": 3, "failureThreshold": 2},
        }
    )
    assert spec.target.group == "apps" and spec.target.version == "v1"
    assert spec.metrics[0].target.average_value == 1500
    assert spec.metrics[0].display_name == "external metric queue"
    assert spec.behavior is not None and spec.behavior.scale_up is not None
    assert spec.behavior.scale_up.select_policy is SelectPolicy.MIN
    assert spec.behavior.scale_up.policies is not None
    assert spec.behavior.scale_up.policies[0].type is PolicyType.PODS
    assert spec.behavior.scale_up.tolerance == pytest.approx(0.05)
    assert spec.mode is Mode.DRY_RUN and spec.paused and spec.evaluation_period == 30
    assert spec.fallback.policy is FallbackPolicy.STATIC and spec.fallback.replicas == 3


def test_spec_without_metrics_gets_the_hpa_default_cpu_80_percent() -> None:
    spec = parse_spec(
        {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
         "maxReplicas": 3}
    )  # fmt: skip
    assert spec.min_replicas == 1 and spec.behavior is None
    assert spec.metrics[0].display_name == "cpu resource utilization (percentage of request)"
    assert spec.metrics[0].target.average_utilization == 80


@pytest.mark.parametrize("path", sorted(HPA_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_converted_hpa_test_manifest_parses(path: pathlib.Path) -> None:
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document]
    for conversion in convert_documents(documents):
        spec = parse_spec(conversion.autoscaler["spec"])
        assert spec.max_replicas >= max(spec.min_replicas, 1)
        assert all(metric.display_name for metric in spec.metrics)
