"""An argument whose bytes are not UTF-8 (``podpilot explain $'\\xff'``) is a usage error, in
one line, for every command, rather than a failure wherever the text is encoded later (a URL,
an HTTP header); a file's name may still be any bytes, as the system takes it. ``-n`` of
``backtest`` and ``recommend`` is a namespace's name, checked before anything is read."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests import backtest_history as known
from tests.local_http import write_kubeconfig
from tests.unit.commands.backtest_runs import write
from tests.unit.commands.usage_errors import usage_error

from podpilot.cli import main
from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_USAGE,
    namespace_name,
    resource_name,
)

REPOSITORY = Path(__file__).resolve().parents[3]
NOT_UTF8 = os.fsdecode(b"\xff")  # what Python makes of the byte in sys.argv: '\udcff'


HISTORY = ["-f", "x.yaml", "--prometheus", "http://h"]


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["explain", NOT_UTF8], "name"),
        (["explain", "-n", NOT_UTF8], "-n/--namespace"),
        (["explain", "--context", NOT_UTF8], "--context"),
        (["takeover", "hpa", "web", "-n", NOT_UTF8], "-n/--namespace"),
        (["backtest", *HISTORY, "-n", NOT_UTF8], "-n/--namespace"),
        (["backtest", *HISTORY, "--pod-regex", NOT_UTF8], "--pod-regex"),
        (["recommend", "-f", "x.yaml", "--prometheus", f"http://h/{NOT_UTF8}"], "--prometheus"),
    ],
)
def test_an_argument_that_is_not_utf8_is_a_usage_error(
    argv: list[str], argument: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error(argv, capsys)

    prog = f"podpilot {argv[0]}"
    assert line.startswith(f"{prog}: error: argument {argument}: ")
    assert "\\xff' is not UTF-8 text (see" in line
    assert line.endswith(f"(see '{prog} --help')")


def test_a_file_name_may_be_any_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / f"{NOT_UTF8}.yaml"

    assert main(["convert", "-f", str(missing)]) == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot convert: error: {tmp_path}/\\xff.yaml: cannot read: No such file or directory"
    ]


def test_the_command_itself_refuses_the_bytes(tmp_path: Path) -> None:
    """As the shell passes them: sys.argv decoded by Python, stderr a real one."""
    kubeconfig = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:9")
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY / "operator"),
        "KUBECONFIG": str(kubeconfig),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "podpilot", "explain", b"\xff"],
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert (finished.returncode, finished.stdout) == (EXIT_USAGE, b"")
    assert finished.stderr.splitlines() == [
        b"podpilot explain: error: argument name: '\\xff' is not UTF-8 text "
        b"(see 'podpilot explain --help')"
    ]


@pytest.mark.parametrize("command", ["backtest", "recommend"])
@pytest.mark.parametrize("namespace", ["Shop", "shop_1", "shop-", "a" * 64, "shop/web", ""])
def test_the_namespace_of_the_history_is_a_namespace_name(
    command: str, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())
    argv = [command, "-f", file, "--prometheus", "http://127.0.0.1:9", "-n", namespace]

    line = usage_error(argv, capsys)

    assert f"argument -n/--namespace: {namespace!r} is not a namespace name" in line


def test_names_are_those_the_api_server_takes() -> None:
    assert namespace_name("shop-1") == "shop-1"
    assert namespace_name("a" * 63) == "a" * 63
    assert resource_name("web.v2") == "web.v2"
    assert resource_name("a" * 253) == "a" * 253
    for refused in ("Web", "web.", ".web", "web..v2", "a" * 254, "web/x", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="is not an object name"):
            resource_name(refused)
