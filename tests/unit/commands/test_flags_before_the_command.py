"""kubectl takes its global flags before the command (``kubectl --context c get``); podpilot
takes them after it, and says so in one line with the command line it would take."""

from __future__ import annotations

import pytest

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_USAGE


@pytest.mark.parametrize(
    ("argv", "instead"),
    [
        (["--context", "ctx", "explain"], "podpilot explain --context ctx"),
        (["-n", "shop", "explain", "web", "-o", "yaml"], "podpilot explain -n shop web -o yaml"),
        (["--context=ctx", "explain"], "podpilot explain --context=ctx"),
        (
            ["--kubeconfig", "a b", "takeover", "hpa/web"],
            "podpilot takeover --kubeconfig 'a b' hpa/web",
        ),
        (["-n", "run", "explain"], "podpilot explain -n run"),  # a value, not the command
    ],
)
def test_flags_before_the_command_are_one_line_saying_where_they_go(
    argv: list[str], instead: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(argv)

    assert status == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot: error: flags go after the command: {instead} (see 'podpilot --help')"
    ]


@pytest.mark.parametrize(
    ("argv", "unrecognized"),
    [
        (["--kubeconfig=config", "convert"], "--kubeconfig=config"),
        # argparse alone cannot tell that c is --context's value, and reads it as the command
        (["--context", "c", "convert"], "--context c"),
        (["--context", "c", "-o", "yaml", "convert", "hpa.yaml"], "--context c"),
        (["--context", "c"], "--context c"),
        # a flag no command knows: the arguments up to the command are taken as its values
        (["--bogus", "c", "convert"], "--bogus c"),
    ],
)
def test_a_flag_the_command_does_not_take_either_is_unrecognized_with_its_value(
    argv: list[str], unrecognized: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot: error: unrecognized arguments: {unrecognized} (see 'podpilot --help')"
    ]


def test_podpilots_own_flags_are_still_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version", "explain"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("podpilot ")


@pytest.mark.parametrize("argv", [["--help", "run"], ["-h", "explain"]])
def test_podpilots_own_help_before_a_command_is_still_help(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: podpilot")
