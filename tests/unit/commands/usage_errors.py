"""A command line refused before the command runs: exit status 2 and one line."""

from __future__ import annotations

import pytest

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_USAGE


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line ``podpilot ARGV`` writes when it refuses its command line."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    return line
