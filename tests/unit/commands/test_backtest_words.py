"""What ``backtest`` and ``recommend`` say: their help names Prometheus where the other
commands name the API server, a warning names its command as takeover's does, ``--plot ''``
is a usage error, and the recommended manifest has kubectl's field order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests import backtest_history as known
from tests.unit.commands.backtest_runs import (
    CEILING,
    WINDOW,
    running,
    stand_in_for_prometheus,
    write,
)

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_OK, EXIT_USAGE

COMMANDS = {"backtest": [], "recommend": CEILING}


@pytest.fixture(autouse=True)
def prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_for_prometheus(monkeypatch)


@pytest.mark.parametrize("command", COMMANDS)
def test_the_help_names_prometheus_in_the_exit_statuses(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])

    help_text = capsys.readouterr().out
    assert "API server" not in help_text
    assert "  3    Prometheus could not be reached, or did not answer within --timeout\n" in (
        help_text
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_warning_names_its_command(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())  # evaluated every 15 s

    status, _, err = running([command, "-f", file, *WINDOW, *COMMANDS[command]], capsys)

    assert status == EXIT_OK
    assert err == [
        f"podpilot {command}: warning: autoscaler.yaml: evaluated every 60 s (--step), not "
        "every 15 s (its evaluationPeriodSeconds): policies and windows count evaluations at "
        "the step"
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_plot_path_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())

    argv = [command, "-f", file, *WINDOW, *COMMANDS[command], "--plot", ""]
    status, out, err = running(argv, capsys)

    assert (status, out) == (EXIT_USAGE, "")
    assert err == [
        f"podpilot {command}: error: --plot needs a PATH: the plot is written to PATH.png "
        "and PATH.svg"
    ]


def test_the_recommended_manifest_has_kubectls_field_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = known.autoscaler()
    given["metadata"]["uid"] = "0b5e0c4e"  # the server's: dropped, and metadata moved with it
    file = write(tmp_path / "autoscaler.yaml", given)

    status, out, _ = running(["recommend", "-f", file, *WINDOW, *CEILING], capsys)

    assert status == EXIT_OK
    assert list(yaml.safe_load(out)) == ["apiVersion", "kind", "metadata", "spec"]
