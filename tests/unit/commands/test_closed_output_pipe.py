"""A reader that closes stdout before podpilot wrote all of it (``podpilot convert | head -1``)
ends the command with exit status 141, as a shell reports kubectl killed by SIGPIPE, and
nothing on stderr: whenever the pipe closes, with Python's stdout buffered or not
(PYTHONUNBUFFERED, which the image sets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.local_http import serving, write_kubeconfig

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import EXIT_OUTPUT_CLOSED, SUBCOMMANDS, main
from podpilot.commands import conventions

REPOSITORY = Path(__file__).parents[3]
HPA = REPOSITORY / "tests" / "data" / "hpa" / "cpu-utilization.yaml"
# Output of twice what a pipe holds (64 KiB) or more: the reader's closing after one line finds
# podpilot still writing. (About 350 bytes of YAML an Autoscaler converted, 150 one listed.)
MANY_HPAS = 400
MANY_AUTOSCALERS = 1000
BUFFERING = {"buffered": None, "unbuffered": "1"}


def podpilot(arguments: list[str], unbuffered: str | None) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "operator")}
    environment.pop("PYTHONUNBUFFERED", None)
    if unbuffered is not None:
        environment["PYTHONUNBUFFERED"] = unbuffered
    return subprocess.Popen(
        [sys.executable, "-m", "podpilot", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )


def read_one_line_and_close(process: subprocess.Popen[bytes]) -> tuple[bytes, int, str]:
    """As ``| head -1``: the first line, then the exit status and stderr once it ended."""
    with process:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read().decode()
        return line, process.wait(timeout=60), errors


def many_hpas(directory: Path) -> Path:
    base = yaml.safe_load(HPA.read_text())
    documents = [
        {**base, "metadata": {**base["metadata"], "name": f"web-{i}"}} for i in range(MANY_HPAS)
    ]
    path = directory / "many.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path


@pytest.fixture
def many_autoscalers(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose server lists ``MANY_AUTOSCALERS`` Autoscalers in every namespace."""
    items = [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Autoscaler",
            "metadata": {"name": f"web-{i}", "namespace": "shop"},
            "spec": {"maxReplicas": 5, "mode": "Active"},
        }
        for i in range(MANY_AUTOSCALERS)
    ]
    listing = json.dumps({"kind": "AutoscalerList", "items": items}).encode()
    with serving({f"/apis/{GROUP}/{VERSION}/autoscalers": (200, listing)}) as url:
        yield write_kubeconfig(tmp_path / "kubeconfig", url)


@pytest.mark.parametrize("unbuffered", BUFFERING.values(), ids=BUFFERING)
@pytest.mark.parametrize("output", ["yaml", "json"])
def test_convert_cut_short_by_its_reader_exits_141_without_a_word(
    output: str, unbuffered: str | None, tmp_path: Path
) -> None:
    process = podpilot(["convert", "-o", output, str(many_hpas(tmp_path))], unbuffered)

    line, status, errors = read_one_line_and_close(process)

    assert line  # it was writing
    assert (status, errors) == (EXIT_OUTPUT_CLOSED, "")


@pytest.mark.parametrize("unbuffered", BUFFERING.values(), ids=BUFFERING)
def test_explain_cut_short_by_its_reader_exits_141_without_a_word(
    unbuffered: str | None, many_autoscalers: Path
) -> None:
    arguments = ["explain", "-A", "-o", "yaml", "--kubeconfig", str(many_autoscalers)]

    line, status, errors = read_one_line_and_close(podpilot(arguments, unbuffered))

    assert line == b"apiVersion: v1\n"
    assert (status, errors) == (EXIT_OUTPUT_CLOSED, "")


@pytest.mark.parametrize("unbuffered", BUFFERING.values(), ids=BUFFERING)
@pytest.mark.parametrize(
    "arguments",
    [["convert", str(HPA)], ["convert", "--help"], ["--version"]],
    ids=["small output", "help", "version"],
)
def test_a_reader_gone_before_anything_was_written_is_the_same(
    arguments: list[str], unbuffered: str | None
) -> None:
    """The output fits Python's buffer, and is written as Python exits: there too."""
    with podpilot(arguments, unbuffered) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()

        assert process.wait(timeout=60) == EXIT_OUTPUT_CLOSED
        assert process.stderr.read() == b""


@pytest.mark.parametrize("unbuffered", BUFFERING.values(), ids=BUFFERING)
def test_a_reader_that_reads_it_all_gets_it_all(unbuffered: str | None, tmp_path: Path) -> None:
    with podpilot(["convert", "-o", "name", str(many_hpas(tmp_path))], unbuffered) as process:
        output, errors = process.communicate(timeout=60)

    assert (process.returncode, errors) == (0, b"")
    names = [f"autoscaler.podpilot.io/web-{i}" for i in range(MANY_HPAS)]
    assert output.decode().splitlines() == names


@pytest.mark.parametrize("command", [name for name in SUBCOMMANDS if name != "run"])
def test_every_command_but_run_says_nothing_of_a_closed_pipe(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def writing_into_a_closed_pipe(_: object) -> int:
        conventions.write_output("output\n", None)
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(f"{SUBCOMMANDS[command][0]}.run", writing_into_a_closed_pipe, raising=True)
    argv = {"backtest": ["-f", "x", "--prometheus", "http://p"], "takeover": ["hpa", "web"]}
    argv["recommend"] = [*argv["backtest"], "--ceiling", "0.8"]

    assert main([command, *argv.get(command, [])]) == EXIT_OUTPUT_CLOSED == 141
    assert capsys.readouterr().err == ""


def test_run_a_server_lets_a_broken_pipe_through_as_the_bug_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`podpilot run` writes a log, not output: a broken pipe there is a socket's."""

    def broken(_: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("podpilot.commands.run.run", broken)

    with pytest.raises(BrokenPipeError):
        main(["run"])


def convert_with_a_stream_closed(flags: str, closed: str) -> subprocess.CompletedProcess[str]:
    """``podpilot convert FLAGS hpa.yaml`` run with ``closed`` (``>&-``, ``2>&-``); the other
    stream is read."""
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY / "operator")}
    return subprocess.run(
        [
            "sh",
            "-c",
            f'exec "$0" -m podpilot convert {flags} "$1" {closed}',
            sys.executable,
            str(HPA),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_a_stdout_closed_from_the_start_is_one_line_and_exit_status_1() -> None:
    """``podpilot convert hpa.yaml >&-``: no reader went away, there was never a stdout."""
    finished = convert_with_a_stream_closed("", ">&-")

    assert (finished.returncode, finished.stderr) == (
        1,
        "podpilot convert: error: cannot write the output: stdout is closed\n",
    )


def test_a_usage_error_with_stderr_closed_from_the_start_is_still_exit_status_2() -> None:
    """``podpilot convert -o wide hpa.yaml 2>&-``: nowhere to say it, the status says it."""
    finished = convert_with_a_stream_closed("-o wide", "2>&-")

    assert (finished.returncode, finished.stdout) == (2, "")
