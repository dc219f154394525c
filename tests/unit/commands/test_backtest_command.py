"""The backtest commands' inputs and failures that need no Prometheus: times as kubectl and
promtool users write them, and one line with a documented exit status for each mistake."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml
from tests import backtest_history as known

from podpilot.cli import main
from podpilot.commands import backtest_inputs

NOW = 1_800_000_000.0


def span(start: str, end: str, step: float = 15.0) -> tuple[float, float, float]:
    args = argparse.Namespace(start=start, end=end, step=step)
    window = backtest_inputs.window(args, now=NOW)
    return window.start, window.end, window.step


def test_times_are_relative_rfc3339_or_epoch() -> None:
    assert span("-2h", "now") == (NOW - 7200, NOW, 15.0)
    assert span("-1h30m", "-30m", 60) == (NOW - 5400, NOW - 1800, 60.0)
    assert (
        span("2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z")[1] - 3600
        == span("2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z")[0]
    )
    assert span("1799990000", "1799999000") == (1799990000.0, 1799999000.0, 15.0)


@pytest.mark.parametrize("text", ["yesterday", "-2 hours", "2027-13-45T00:00:00Z"])
def test_a_time_that_is_none_of_those_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        backtest_inputs.moment(text)


def write(tmp_path: Path) -> str:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(known.autoscaler()), encoding="utf-8")
    return str(path)


def run(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main(arguments)
    return status, capsys.readouterr().err.strip().splitlines()


URL = ["--prometheus", "http://127.0.0.1:9"]


def test_an_empty_or_reversed_window_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["backtest", "-f", write(tmp_path), *URL, "--from", "-1h", "--to", "-2h"]
    status, err = run(arguments, capsys)
    assert (status, len(err)) == (2, 1)
    assert "must be after --from" in err[0]


def test_too_many_steps_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["backtest", "-f", write(tmp_path), *URL, "--from", "-720h", "--step", "15s"]
    status, err = run(arguments, capsys)
    assert (status, len(err)) == (2, 1)
    assert "raise --step" in err[0]


def test_several_files_need_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path)
    status, err = run(["backtest", "-f", file, "-f", file, *URL], capsys)
    assert (status, err) == (
        2,
        ["podpilot backtest: error: several -f are compared: add --compare"],
    )


def test_not_an_autoscaler_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("kind: Deployment\napiVersion: apps/v1\n", encoding="utf-8")
    status, err = run(["recommend", "-f", str(path), *URL, "--ceiling", "80%"], capsys)
    assert (status, len(err)) == (1, 1)
    assert "neither an Autoscaler nor a HorizontalPodAutoscaler" in err[0]


def test_a_plot_without_matplotlib_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    arguments = ["backtest", "-f", write(tmp_path), *URL, "--plot", str(tmp_path / "p")]
    status, err = run(arguments, capsys)
    assert (status, err) == (
        4,
        ["podpilot backtest: error: plotting needs matplotlib: pip install 'podpilot[plot]'"],
    )
