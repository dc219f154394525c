"""``podpilot run`` flags that become OperatorSettings."""

from __future__ import annotations

from podpilot.cli import build_parser
from podpilot.commands.run import settings_from


def test_run_takes_the_api_timeout_as_a_setting() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).api_timeout == 30.0
    assert settings_from(parser.parse_args(["run", "--api-timeout", "7.5"])).api_timeout == 7.5
