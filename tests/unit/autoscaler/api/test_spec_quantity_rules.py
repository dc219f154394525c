"""``parse_spec`` holds the quantity fields to the bounds the CRD's ValidatingAdmissionPolicy
sets, for clusters that do not enforce it (only the CRD applied) and for files that never meet
an apiserver (``podpilot backtest -f``): each invalid fixture about a quantity is refused with
the field's path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from podpilot.apimachinery.quantities import milli_value
from podpilot.autoscaler.api.spec import SpecError, parse_spec

FIXTURES = Path(__file__).parents[4] / "tests" / "data" / "invalid-autoscalers"
HPA_FIXTURES = FIXTURES.parent / "hpa"
QUANTITY_FIELD = re.compile(
    r"^# expect: (spec\.\S*(target\.value|target\.averageValue|activationThreshold|tolerance))\b"
)


def quantity_fixtures() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        match = QUANTITY_FIELD.match(path.read_text().splitlines()[0])
        if match:
            found.append((path, match.group(1).removesuffix(":")))
    return found


FOUND = quantity_fixtures()


def test_the_quantity_fixtures_are_found() -> None:
    assert len(FOUND) >= 9


@pytest.mark.parametrize(("path", "field"), FOUND, ids=[path.stem for path, _ in FOUND])
def test_an_invalid_quantity_is_refused_naming_its_field(path: Path, field: str) -> None:
    spec = yaml.safe_load(path.read_text())["spec"]

    with pytest.raises(SpecError) as refused:
        parse_spec(spec)

    assert str(refused.value).startswith(field)


@pytest.mark.parametrize("value", [0.5, "0.5", "500m", 2, 1e-3])
def test_a_number_or_a_string_quantity_is_taken(value: object) -> None:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 5,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "jobs"},
                    "target": {"type": "AverageValue", "averageValue": value},
                },
            }
        ],
        "behavior": {"scaleUp": {"tolerance": value}, "scaleDown": {"tolerance": 0.05}},
    }

    parsed = parse_spec(spec)

    assert parsed.metrics[0].target.average_value == milli_value(str(value))


def test_what_the_hpa_takes_at_its_edges_is_taken() -> None:
    """An empty metrics list means the default cpu metric, and a scale-down tolerance has no
    upper bound (KEP-4951): at 1 or more the usage ratio never falls out of the band below."""
    hpa = yaml.safe_load((HPA_FIXTURES / "empty-metrics-and-wide-tolerance.yaml").read_text())

    parsed = parse_spec(hpa["spec"])

    assert [(m.type, m.resource, m.target.average_utilization) for m in parsed.metrics] == [
        ("Resource", "cpu", 80)
    ]
    assert parsed.behavior is not None and parsed.behavior.scale_down is not None
    assert parsed.behavior.scale_down.tolerance == 1.0


def test_a_policy_without_a_key_is_refused_naming_the_policy() -> None:
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 5,
        "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 2}]}},
    }

    with pytest.raises(SpecError) as refused:
        parse_spec(spec)

    assert str(refused.value) == "spec.behavior.scaleUp.policies[0].periodSeconds is required"
