"""Regenerate docs/images/backtest.svg: ``python -m tests.backtest_docs_plot`` from the
repository root (needs Debian's prometheus and promtool, and matplotlib).

The known history of ``tests/backtest_history.py`` is backfilled into a real Prometheus on
127.0.0.1 and ``podpilot backtest --compare`` replays the workload's HPA and an Autoscaler
candidate over it, as a user would; the PNG it writes beside the SVG is discarded.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml
from tests import backtest_history as known

from podpilot.cli import main

TARGET = Path("docs/images/backtest")


def regenerate(target: Path = TARGET) -> int:
    history = known.recent_history(hours_ago=1.0)
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        files = []
        for name, manifest in (("hpa.yaml", known.hpa()), ("candidate.yaml", known.autoscaler())):
            (work / name).write_text(yaml.safe_dump(manifest), encoding="utf-8")
            files += ["-f", str(work / name)]
        with known.prometheus_with(history, work) as url:
            status = main(
                ["backtest", *files, "--compare", "--prometheus", url,
                 "--from", str(history.start), "--to", str(history.end), "--step", "1m",
                 "--plot", str(work / "plot")]
            )  # fmt: skip
        if status == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            (work / "plot.svg").replace(target.with_suffix(".svg"))
    return status


if __name__ == "__main__":
    sys.exit(regenerate())
