"""helm/podpilot/README.md is what helm-docs makes of values.yaml today, and the schema carries
the same descriptions (issue #20, point 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from tests.chart_render import CHART, built_tool

from podpilot_dev import chart_readme


def leaves(node: Any, prefix: str = "") -> set[str]:
    if isinstance(node, dict) and node:
        return {leaf for key, value in node.items() for leaf in leaves(value, f"{prefix}{key}.")}
    return {prefix.removesuffix(".")}


def test_the_readme_and_the_schema_descriptions_are_current() -> None:
    stale = chart_readme.stale(built_tool("helm-docs"), CHART)
    assert [path.name for path in stale] == [], "stale: run scripts/chart-readme"


def test_every_value_has_a_row_with_a_description() -> None:
    table = chart_readme.values_table((CHART / "README.md").read_text())
    assert [key for key, text in table.items() if not text.strip(" |")] == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # A map documented as a whole (resources, podSecurityContext) covers its leaves.
    undocumented = {
        leaf
        for leaf in leaves(values)
        if not any(leaf == key or leaf.startswith(f"{key}.") for key in table)
    }
    assert undocumented == set()


def test_a_changed_comment_makes_the_readme_stale(tmp_path: Path) -> None:
    chart = tmp_path / "podpilot"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("# -- Log format", "# -- The log format", 1))
    fresh = chart_readme.generate(built_tool("helm-docs"), chart)
    assert fresh != (CHART / "README.md").read_text()
    assert '| logFormat | string | `"text"` | The log format' in fresh


def test_every_documented_value_has_its_description_in_the_schema() -> None:
    table = chart_readme.values_table((CHART / "README.md").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    for key, description in table.items():
        node = schema
        for part in key.split("."):
            node = node["properties"][part]
        assert node.get("description") == description, key


def test_no_wrapped_comment_line_reads_as_a_new_description() -> None:
    """helm-docs starts a description at any ``# --``: a wrapped line that begins with a flag
    (``# --standalone).``) would throw away the sentence before it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert [line for line in lines if line.lstrip().startswith("# --") and
            not line.lstrip().startswith("# -- ")] == []  # fmt: skip
