"""An exception no command expected (a bug) still ends a command with one line and exit
status 1; ``PODPILOT_TRACEBACK=1`` shows the traceback, and ``run`` always lets it through to
the operator's log."""

from __future__ import annotations

import argparse

import pytest

from podpilot import cli
from podpilot.commands import convert, run
from podpilot.commands.conventions import EXIT_FAILED


def failing(args: argparse.Namespace) -> int:
    raise ValueError("spec\nmetrics")


def test_a_bug_in_a_command_is_one_line_naming_it_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cli.TRACEBACK_VARIABLE, raising=False)
    monkeypatch.setattr(convert, "run", failing)
    assert cli.main(["convert", "-"]) == EXIT_FAILED
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("podpilot convert: error: internal error (ValueError: spec metrics)")
    assert "PODPILOT_TRACEBACK=1" in lines[0]


def test_the_traceback_is_shown_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.TRACEBACK_VARIABLE, "1")
    monkeypatch.setattr(convert, "run", failing)
    with pytest.raises(ValueError):
        cli.main(["convert", "-"])


def test_the_operator_lets_a_bug_through_to_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.TRACEBACK_VARIABLE, raising=False)
    monkeypatch.setattr(run, "run", failing)
    with pytest.raises(ValueError):
        cli.main(["run", "--standalone"])
