"""``podpilot backtest`` and ``recommend`` run on the known history without a Prometheus: the
range queries are stood in for by the trace they would give."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import backtest_history as known

from podpilot.cli import main
from podpilot.commands import backtest_inputs

HISTORY = known.History(end=1_800_000_000 // known.STEP * known.STEP)
WINDOW = [
    "--prometheus", "http://127.0.0.1:9", "--from", str(HISTORY.start), "--to", str(HISTORY.end),
    "--step", "1m",
]  # fmt: skip
CEILING = ["--ceiling", "80%"]


def stand_in_for_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The range queries answer the known history."""

    def known_trace(*_: Any) -> Any:
        return known.known_trace(HISTORY.times)

    monkeypatch.setattr(backtest_inputs, "read_trace", known_trace)


def feed_stdin(monkeypatch: pytest.MonkeyPatch, documents: Sequence[Any]) -> None:
    text = yaml.safe_dump_all(documents).encode("utf-8")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text), encoding="utf-8"))


def write(path: Path, *documents: Any) -> str:
    path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    return str(path)


def running(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """The exit status, stdout and stderr lines of ``podpilot ARGUMENTS``."""
    status = main(arguments)
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()
