"""A long flag is taken only whole, as kubectl (pflag) takes it: ``--request-t`` is an unknown
flag, one line and exit status 2, never ``--request-timeout`` as argparse would read it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podpilot.cli import SUBCOMMANDS, build_parser, main
from podpilot.commands.conventions import EXIT_USAGE

REPOSITORY = Path(__file__).parents[3]
# What each command needs besides the flag under test, so that argparse gets as far as it.
REQUIRED_ARGUMENTS: dict[str, list[str]] = {
    "run": [],
    "convert": [],
    "explain": [],
    "backtest": ["-f", "spec.yaml", "--prometheus", "http://prometheus:9090"],
    "recommend": ["-f", "spec.yaml", "--prometheus", "http://prometheus:9090", "--ceiling", "0.8"],
    "takeover": ["hpa", "web"],
}


def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (subcommands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subcommands.choices)


def every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from every_parser(child)


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")]


def abbreviations() -> Iterator[tuple[str, str]]:
    """(command, a prefix argparse would have read as one of its long flags): the longest
    proper prefix of each flag that is no other flag's prefix."""
    for command, parser in subcommand_parsers(build_parser()).items():
        flags = long_flags(parser)
        for flag in flags:
            prefix = flag[:-1]
            if [other for other in flags if other.startswith(prefix)] == [flag]:
                yield command, prefix


ABBREVIATIONS = sorted(set(abbreviations()))


def test_the_abbreviations_cover_every_command() -> None:
    assert {command for command, _ in ABBREVIATIONS} == set(SUBCOMMANDS) == set(REQUIRED_ARGUMENTS)
    assert ("explain", "--request-timeou") in ABBREVIATIONS
    assert ("run", "--standalon") in ABBREVIATIONS


def test_no_parser_of_podpilot_reads_abbreviations() -> None:
    parsers = list(every_parser(build_parser()))
    assert len(parsers) == 1 + len(SUBCOMMANDS)
    assert [p.prog for p in parsers if p.allow_abbrev] == []


@pytest.mark.parametrize(
    ("command", "abbreviation"), ABBREVIATIONS, ids=[" ".join(case) for case in ABBREVIATIONS]
)
def test_an_abbreviated_long_flag_is_an_unknown_flag(
    command: str, abbreviation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, *REQUIRED_ARGUMENTS[command], abbreviation]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot {command}: error: unrecognized arguments: {abbreviation} "
        f"(see 'podpilot {command} --help')"
    ]


@pytest.mark.parametrize(
    ("argv", "prog", "unknown"),
    [
        (["explain", "--request-t", "5"], "podpilot explain", "--request-t"),
        (["explain", "--request-t=5"], "podpilot explain", "--request-t=5"),
        (["run", "--stand"], "podpilot run", "--stand"),
        (["run", "--names=team-a"], "podpilot run", "--names=team-a"),
        (["run", "--no"], "podpilot run", "--no"),
        (["convert", "--he"], "podpilot convert", "--he"),
        (["convert", "--output-f", "out.yaml"], "podpilot convert", "--output-f"),
        (["--vers", "convert"], "podpilot", "--vers"),
        (["--vers"], "podpilot", "--vers"),
    ],
    ids=str,
)
def test_the_unknown_flag_is_named_in_one_line(
    argv: list[str], prog: str, unknown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{prog}: error: unrecognized arguments: {unknown}")
    assert line.endswith(f"(see '{prog} --help')")


def test_whole_flags_and_short_flags_together_are_still_read() -> None:
    """Only abbreviations of long flags go: ``-vnNAME`` is ``-v -n NAME``, as in kubectl."""
    args = build_parser(only="run").parse_args(
        ["run", "-vnteam-a", "--standalone", "--namespace=team-b"]
    )
    assert (args.verbose, args.namespace, args.standalone) == (True, ["team-a", "team-b"], True)


def test_the_installed_entry_refuses_an_abbreviation() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "operator")}
    finished = subprocess.run(
        [sys.executable, "-m", "podpilot", "explain", "--request-t", "5"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert finished.returncode == EXIT_USAGE
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        "podpilot explain: error: unrecognized arguments: --request-t "
        "(see 'podpilot explain --help')"
    ]
