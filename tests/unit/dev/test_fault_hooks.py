"""The e2e fault hooks: none unless asked for, the crash only for its namespace, a held status
write only once allowed, and none of them in the operator itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import podpilot
from podpilot.app.hooks import NO_HOOKS
from podpilot_dev.fault_hooks import (
    CRASH_AFTER_SCALE_PATCH,
    HELD_STATUS_WRITE,
    SCALE_PATCH_DELAY_SECONDS,
    STATUS_WRITE_DELAY_SECONDS,
    VARIABLES,
    hooks_from,
    scale_write_hooks,
    status_write_hold,
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


def test_no_environment_no_status_write_hold() -> None:
    def may_write() -> bool:
        return True

    assert status_write_hold({})(may_write, "ns/web") is may_write


def test_an_allowed_status_write_is_held_and_said_a_refused_one_is_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hold = status_write_hold({STATUS_WRITE_DELAY_SECONDS: "0.2"})
    started = time.monotonic()
    assert hold(lambda: False, "ns/web")() is False
    assert time.monotonic() - started < 0.2
    assert capsys.readouterr().err == ""
    assert hold(lambda: True, "ns/web")() is True
    assert time.monotonic() - started >= 0.2
    assert capsys.readouterr().err == f"{HELD_STATUS_WRITE} ns/web for 0.2 s\n"


def test_an_environment_that_asks_nothing_gives_the_operators_own_hooks() -> None:
    assert hooks_from({"PODPILOT_TEST_UNKNOWN": "1"}) == NO_HOOKS


def test_the_operator_itself_reads_no_fault_variable() -> None:
    package = Path(podpilot.__file__).parent
    readers = [
        str(module.relative_to(package))
        for module in package.rglob("*.py")
        if any(variable in module.read_text() for variable in VARIABLES)
    ]
    assert readers == []
