"""Generate helm/podpilot/README.md from values.yaml with helm-docs, or check it is current.

The values table comes from the `# --` comments in values.yaml; the rest of the page from
helm/podpilot/README.md.gotmpl. The same descriptions are copied into values.schema.json, so an
editor validating an override file shows them too. helm-docs is built by the toolchain
(tools/helm-docs) like the dev cluster's binaries, so the output does not depend on what is
installed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from podpilot_dev import toolchain
from podpilot_dev.paths import repo_root

# Options fixed here so every run renders the same page: rows in values.yaml's order, and no
# footer naming the helm-docs version.
HELM_DOCS_OPTIONS = (
    "--sort-values-order",
    "file",
    "--skip-version-footer",
    "--log-level",
    "warning",
)


def chart_dir() -> Path:
    return repo_root() / "helm" / "podpilot"


def generate(helm_docs: Path, chart: Path) -> str:
    """The README helm-docs writes for ``chart``, rendered in a scratch copy of the chart."""
    with tempfile.TemporaryDirectory(prefix="chart-readme-") as scratch:
        copy = Path(scratch) / chart.name
        shutil.copytree(chart, copy)
        (copy / "README.md").unlink(missing_ok=True)
        result = subprocess.run(
            [str(helm_docs), "--chart-search-root", str(copy), *HELM_DOCS_OPTIONS],
            capture_output=True,
            text=True,
            timeout=120,
        )
        readme = copy / "README.md"
        if result.returncode != 0 or not readme.exists():
            raise toolchain.ToolchainError(f"helm-docs failed:\n{result.stderr.strip()}")
        return readme.read_text()


def values_table(readme: str) -> dict[str, str]:
    """Value key -> description, from the README's values table."""
    table = {}
    for line in readme.splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) == 4 and cells[2].startswith("`"):
            table[cells[0].removeprefix("| ")] = cells[3].removesuffix(" |").strip()
    return table


def with_descriptions(schema: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
    """``schema`` with each documented value's description set on its property."""
    described: dict[str, Any] = copy.deepcopy(schema)
    for key, description in table.items():
        node: dict[str, Any] = described
        for part in key.split("."):
            node = node.get("properties", {}).get(part, {})
        if node:
            node["description"] = description
    return described


def schema_text(chart: Path, readme: str) -> str:
    schema = json.loads((chart / "values.schema.json").read_text())
    return json.dumps(with_descriptions(schema, values_table(readme)), indent=2) + "\n"


def stale(helm_docs: Path, chart: Path) -> dict[Path, str]:
    """The generated files that differ from what they should be, with their fresh text."""
    readme = generate(helm_docs, chart)
    fresh = {chart / "README.md": readme, chart / "values.schema.json": schema_text(chart, readme)}
    return {
        path: text for path, text in fresh.items() if not path.exists() or path.read_text() != text
    }


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: scripts/chart-readme [--check]")
        return 2
    helm_docs = toolchain.build_all(["helm-docs"])["helm-docs"]
    outdated = stale(helm_docs, chart_dir())
    for path, text in outdated.items():
        if check:
            print(f"{path} is stale: run scripts/chart-readme")
        else:
            path.write_text(text)
            print(f"{path}: regenerated")
    return 1 if check and outdated else 0
