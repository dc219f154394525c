"""Polling helpers for e2e tests: wait for a condition with a clear failure message."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
) -> T:
    """Call ``probe`` until it returns a truthy value; return that value or fail."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            last_error = None
        except AssertionError as error:
            last_error = error
        else:
            if last:
                return last
        time.sleep(interval)
    detail = f"last error: {last_error}" if last_error else f"last value: {last!r}"
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; {detail}")
