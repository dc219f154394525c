"""Offline checks of the Autoscaler's ValidatingAdmissionPolicy against its CRD.

The policy holds the rules of the CRD's untyped quantity leaves, which CEL in a CRD cannot see;
these checks keep the two files in step. The rules themselves run on a real apiserver in
tests/e2e/test_autoscaler_crd.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.test_crd_schema import CRD_PATH, is_quantity_leaf, walk

CRDS = Path(__file__).parents[2] / "crds"
POLICY_PATH = CRDS / "autoscalers.podpilot.io-policy.yaml"
BINDING_PATH = CRDS / "autoscalers.podpilot.io-policy-binding.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return document


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(POLICY_PATH.read_text())
    return document


def quantity_leaves(crd: dict[str, Any]) -> list[str]:
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return [f"spec.{path}" for path, node in walk(schema) if is_quantity_leaf(node)]


def cel_path(leaf: str) -> str:
    """How the policy's CEL names a leaf: ``m.`` for a metric's fields, else from ``object``."""
    if leaf.startswith("spec.metrics[]."):
        return "m." + leaf.removeprefix("spec.metrics[].")
    return "object." + leaf


def test_the_policy_checks_every_untyped_quantity_of_the_crd(
    crd: dict[str, Any], policy: dict[str, Any]
) -> None:
    expressions = " ".join(
        [item["expression"] for item in policy["spec"]["variables"]]
        + [item["expression"] for item in policy["spec"]["validations"]]
    )
    leaves = quantity_leaves(crd)

    assert len(leaves) == 17
    assert [leaf for leaf in leaves if f"isQuantity({cel_path(leaf)})" not in expressions] == []


def test_each_target_value_field_is_set_exactly_when_its_type_names_it(
    policy: dict[str, Any],
) -> None:
    variables = {item["name"]: item["expression"] for item in policy["spec"]["variables"]}
    sources = ("resource", "containerResource", "pods", "object", "external", "prometheus")

    for source in sources:
        for field, kind in (("value", "Value"), ("averageValue", "AverageValue")):
            name = f"{source}{field[0].upper()}{field[1:]}Misplaced"
            assert (
                f"(m.{source}.target.type == '{kind}') != has(m.{source}.target.{field})"
                in variables[name]
            )


def test_the_policy_selects_the_autoscalers_of_the_crd(
    crd: dict[str, Any], policy: dict[str, Any]
) -> None:
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    (version,) = crd["spec"]["versions"]

    assert rule["apiGroups"] == [crd["spec"]["group"]]
    assert rule["apiVersions"] == [version["name"]]
    assert rule["resources"] == [crd["spec"]["names"]["plural"]]
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_every_validation_names_the_field_it_refuses(policy: dict[str, Any]) -> None:
    validations = policy["spec"]["validations"]
    variables = {item["name"] for item in policy["spec"]["variables"]}

    for validation in validations:
        message = validation.get("message") or validation["messageExpression"]
        assert re.match(r"^'?spec\.", message), message
        used = set(re.findall(r"variables\.(\w+)", validation["expression"]))
        assert used <= variables
    assert len(validations) == 29


def test_the_binding_denies_with_the_policy(policy: dict[str, Any]) -> None:
    binding = yaml.safe_load(BINDING_PATH.read_text())

    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
