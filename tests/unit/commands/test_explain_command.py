"""``podpilot explain`` against an API server that accepts and never answers: one line, the
documented exit status, within the request timeout; never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_NO_ANSWER
from podpilot.commands.explain import EXIT_NOT_READ


def test_explain_times_out_with_one_line_and_its_exit_status(
    silent_kubeconfig: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, url = silent_kubeconfig
    argv = ["explain", "-n", "ns", "web", "--kubeconfig", str(path), "--request-timeout", "0.5"]
    started = time.monotonic()
    code = main(argv)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == EXIT_NO_ANSWER == 3
    assert captured.err.splitlines() == [
        f"podpilot explain: error: the API server at {url} did not answer within 0.5 s"
    ]
    assert captured.out == ""
    assert seconds < 2.5


def test_explain_without_credentials_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", "web", "--kubeconfig", str(tmp_path / "missing")])
    lines = capsys.readouterr().err.splitlines()
    assert code == EXIT_NOT_READ
    assert len(lines) == 1
    assert lines[0].startswith("podpilot explain: error: cannot load the API credentials:")


def test_the_exit_statuses_are_documented_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["explain", "--help"])
    help_text = capsys.readouterr().out
    assert exited.value.code == 0
    assert "--request-timeout DURATION" in help_text
    assert f"{EXIT_NOT_READ}    the work failed: the API server refused" in help_text
    assert (
        f"{EXIT_NO_ANSWER}    the API server could not be reached, or did not answer" in help_text
    )
