"""Generate helm/podpilot/README.md from values.yaml with helm-docs, or check it is current.

The values table comes from the `# --` comments in values.yaml; the rest of the page from
helm/podpilot/README.md.gotmpl. helm-docs is built by the toolchain (tools/helm-docs) like
the dev cluster's binaries, so the output does not depend on what is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

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


def write(helm_docs: Path, chart: Path) -> bool:
    """Regenerate ``chart``/README.md; return whether it changed."""
    fresh = generate(helm_docs, chart)
    target = chart / "README.md"
    if target.exists() and target.read_text() == fresh:
        return False
    target.write_text(fresh)
    return True


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: scripts/chart-readme [--check]")
        return 2
    helm_docs = toolchain.build_all(["helm-docs"])["helm-docs"]
    chart = chart_dir()
    target = chart / "README.md"
    if check:
        current = target.read_text() if target.exists() else ""
        if generate(helm_docs, chart) != current:
            print(f"{target} is stale: run scripts/chart-readme")
            return 1
        return 0
    print(f"{target}: {'regenerated' if write(helm_docs, chart) else 'already current'}")
    return 0
