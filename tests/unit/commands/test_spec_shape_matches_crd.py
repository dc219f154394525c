"""``commands/spec_shape`` states, for files that never meet an apiserver, the types the
Autoscaler CRD gives the fields podpilot reads: every field both name has one type in both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from podpilot.commands.spec_shape import MANIFEST, Shape

CRD = Path(__file__).parents[3] / "crds" / "autoscalers.podpilot.io.yaml"
SCHEMA_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}


def schema() -> dict[str, Any]:
    (version,) = yaml.safe_load(CRD.read_text(encoding="utf-8"))["spec"]["versions"]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found


def compared(shape: Shape, node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str]]:
    """(path, the shape's type, the schema's type) of every field both describe."""
    if isinstance(shape, dict):
        yield path, "object", node.get("type", "")
        properties = node.get("properties", {})
        for key, field_shape in shape.items():
            if key in properties:
                yield from compared(field_shape, properties[key], f"{path}.{key}")
    elif isinstance(shape, list):
        yield path, "array", node.get("type", "")
        yield from compared(shape[0], node["items"], f"{path}[]")
    else:
        yield path, SCHEMA_TYPES[shape], node.get("type", "")


def test_every_field_both_describe_has_the_same_type() -> None:
    pairs = list(compared(MANIFEST, schema(), ""))
    assert [(path, ours, theirs) for path, ours, theirs in pairs if ours != theirs] == []
    # The metric blocks, behavior and fallback were all reached, not only the top.
    assert len(pairs) >= 60
