"""Progress lines, timings and bounded subprocesses for the kind image build."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

Reporter = Callable[[str], None]


class KindError(RuntimeError):
    """A kind build or cluster step failed; the message says which and why."""


def say(line: str) -> None:
    print(f"kind: {line}", file=sys.stderr, flush=True)


@contextmanager
def timed(report: Reporter, what: str) -> Iterator[None]:
    """Report ``what`` when it starts and how long it took when it ends."""
    report(f"{what} ...")
    started = time.monotonic()
    yield
    report(f"{what}: done in {time.monotonic() - started:.0f}s")


def run(
    command: Sequence[str],
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> str:
    """Run ``command``; return its stdout, or raise KindError with its stderr."""
    try:
        result = subprocess.run(
            list(command),
            cwd=cwd,
            input=input_text,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise KindError(f"{' '.join(command)} timed out after {timeout:.0f}s") from error
    except FileNotFoundError as error:
        raise KindError(f"{command[0]} is not installed (scripts/dev setup installs it)") from error
    if result.returncode != 0:
        raise KindError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr.strip()[-3000:]}"
        )
    return result.stdout
