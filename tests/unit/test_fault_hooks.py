"""The e2e fault hooks: none unless asked for, and the crash only for its namespace."""

from __future__ import annotations

import asyncio
import time

from podpilot.app.fault_hooks import (
    CRASH_AFTER_SCALE_PATCH,
    SCALE_PATCH_DELAY_SECONDS,
    scale_write_hooks,
)


def test_no_environment_no_hooks() -> None:
    hooks = scale_write_hooks({})
    assert (hooks.before_patch, hooks.after_patch) == (None, None)


def test_the_delay_waits_before_every_patch() -> None:
    hooks = scale_write_hooks({SCALE_PATCH_DELAY_SECONDS: "0.2"})
    assert hooks.before_patch is not None and hooks.after_patch is None
    started = time.monotonic()
    asyncio.run(hooks.before_patch("any"))
    assert time.monotonic() - started >= 0.2


def test_the_crash_hook_spares_other_namespaces() -> None:
    hooks = scale_write_hooks({CRASH_AFTER_SCALE_PATCH: "t-f8"})
    assert hooks.after_patch is not None and hooks.before_patch is None
    hooks.after_patch("another-namespace")  # this process is still here
