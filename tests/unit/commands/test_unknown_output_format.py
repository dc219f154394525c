"""An unknown ``-o`` format is refused as kubectl refuses it, naming the formats allowed; only a
value that looks like a file (the old ``-o FILE``) also gets the hint for ``--output-file``.
Every command with ``-o`` follows the same rule."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from podpilot.cli import SUBCOMMANDS, build_parser, main
from podpilot.commands.conventions import EXIT_USAGE, looks_like_a_file

HPA = Path(__file__).parents[2] / "data" / "hpa" / "cpu-utilization.yaml"
# What each command needs besides -o, so that argparse gets as far as it.
REQUIRED_ARGUMENTS: dict[str, list[str]] = {
    "convert": [str(HPA)],
    "explain": [],
    "backtest": ["-f", str(HPA), "--prometheus", "http://prometheus:9090"],
    "recommend": ["-f", str(HPA), "--prometheus", "http://prometheus:9090", "--ceiling", "0.8"],
}


def commands_with_output_flag() -> set[str]:
    (subcommands,) = (
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return {
        name
        for name, parser in subcommands.choices.items()
        if any("-o" in action.option_strings for action in parser._actions)
    }


def allowed_formats(command: str) -> str:
    formats: tuple[str, ...] = importlib.import_module(SUBCOMMANDS[command][0]).OUTPUT_FORMATS
    return ",".join(sorted(formats))


def refusal(command: str, value: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([command, *REQUIRED_ARGUMENTS[command], "-o", value])
    assert exited.value.code == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    return line


def test_every_command_with_o_is_checked_here() -> None:
    assert commands_with_output_flag() == set(REQUIRED_ARGUMENTS)


NOT_FORMATS = [
    (command, value)
    for command in sorted(REQUIRED_ARGUMENTS)
    for value in ["table", "Yaml", "jsonpath={.metadata.name}", "wide"]
    if (command, value) != ("explain", "wide")  # explain prints -o wide
]


@pytest.mark.parametrize(("command", "value"), NOT_FORMATS, ids=[" ".join(c) for c in NOT_FORMATS])
def test_a_format_name_that_is_not_one_is_refused_in_kubectls_words(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert refusal(command, value, capsys) == (
        f"podpilot {command}: error: argument -o/--output: unable to match a printer suitable "
        f'for the output format "{value}", allowed formats are: {allowed_formats(command)} '
        f"(see 'podpilot {command} --help')"
    )


def test_convert_o_wide_names_the_formats_and_no_file(capsys: pytest.CaptureFixture[str]) -> None:
    line = refusal("convert", "wide", capsys)

    assert 'the output format "wide", allowed formats are: json,name,yaml' in line
    assert "--output-file" not in line


@pytest.mark.parametrize("command", sorted(REQUIRED_ARGUMENTS))
@pytest.mark.parametrize("value", ["out.yaml", "out.yml", "out.json", "build/out", "./manifests"])
def test_a_value_that_looks_like_a_file_gets_the_output_file_hint(
    command: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)

    assert refusal(command, value, capsys) == (
        f"podpilot {command}: error: argument -o/--output: unable to match a printer suitable "
        f'for the output format "{value}", allowed formats are: {allowed_formats(command)}; '
        f"-o names the format, as in kubectl: write to a file with --output-file {value} "
        f"(see 'podpilot {command} --help')"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "file"),
    [
        ("out.yaml", True),
        ("autoscalers.txt", True),
        ("dir/out", True),
        ("/tmp/out", True),
        ("./out", True),
        ("wide", False),
        ("yaml", False),
        ("yaml.", False),
        ("custom-columns=NAME:.metadata.name", False),
        ("jsonpath-file=/tmp/template", False),
        ("go-template={{.metadata.name}}", False),
    ],
)
def test_what_looks_like_a_file(value: str, file: bool) -> None:
    assert looks_like_a_file(value) is file
