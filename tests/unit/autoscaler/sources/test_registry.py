"""Every place a metric type must be named names the same types: the readers, the words and
status shapes, the spec's block rules, the CRD's schema, and the sources' interface."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from podpilot.autoscaler.api.metric_types import METRIC_TYPES
from podpilot.autoscaler.api.spec import SOURCE_RULES
from podpilot.autoscaler.sources.registry import READERS, SOURCE_CLASSES, MetricSources

CRD = Path(__file__).resolve().parents[4] / "crds" / "autoscalers.podpilot.io.yaml"


def crd_metric_items() -> list[dict[str, Any]]:
    """The schema of one ``spec.metrics[]`` entry, in every served version."""
    crd = yaml.safe_load(CRD.read_text())
    return [
        version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["metrics"]["items"]
        for version in crd["spec"]["versions"]
    ]


def crd_metric_types() -> set[str]:
    return {name for item in crd_metric_items() for name in item["properties"]["type"]["enum"]}


def test_the_readers_words_rules_and_schema_name_the_same_metric_types() -> None:
    assert set(READERS) == set(METRIC_TYPES) == set(SOURCE_RULES) == crd_metric_types()
    assert {"Resource", "ContainerResource", "Pods", "Object", "External", "Prometheus"} <= set(
        READERS
    )


def test_every_source_of_the_registry_is_declared_as_a_metric_source() -> None:
    field_types = {field.type for field in dataclasses.fields(MetricSources)}
    assert field_types == {source.__name__ for source in SOURCE_CLASSES}


def test_the_crd_asks_of_each_type_the_block_it_names() -> None:
    for item in crd_metric_items():
        rules = {validation["rule"] for validation in item["x-kubernetes-validations"]}
        for name, kind in METRIC_TYPES.items():
            assert kind.block in item["properties"], name
            assert f"has(self.{kind.block}) == (self.type == '{name}')" in rules, name
