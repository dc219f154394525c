"""Fault-injection hooks for the e2e tests, read from the environment of a test build of the
operator (``operator_with_faults``; the operator itself reads none of these variables).

They put a fault at a point no outside injection can hit reliably:

``PODPILOT_TEST_CRASH_AFTER_SCALE_PATCH=<namespace>``
    the process SIGKILLs itself right after a successful ``/scale`` patch of a target in
    ``<namespace>``, before the status write that follows it (fault F8).
``PODPILOT_TEST_SCALE_PATCH_DELAY_SECONDS=<seconds>``
    every ``/scale`` patch waits this long first, widening the time between reading a
    target's scale and writing it, so a concurrent ``kubectl scale`` meets it (fault F10).
``PODPILOT_TEST_STATUS_WRITE_DELAY_SECONDS=<seconds>``
    every Autoscaler status write, once allowed (``may_write`` said yes in the status pool's
    thread), waits this long before it goes out, and says so on stderr: a test stops the
    process in that wait, lets another replica take over, and continues it, so the write
    arrives after the new holder's (fault F16).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping

from podpilot.app.hooks import ProcessHooks, StatusWriteGate, ask_as_is
from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import WriteHooks

CRASH_AFTER_SCALE_PATCH = "PODPILOT_TEST_CRASH_AFTER_SCALE_PATCH"
SCALE_PATCH_DELAY_SECONDS = "PODPILOT_TEST_SCALE_PATCH_DELAY_SECONDS"
STATUS_WRITE_DELAY_SECONDS = "PODPILOT_TEST_STATUS_WRITE_DELAY_SECONDS"
VARIABLES = (CRASH_AFTER_SCALE_PATCH, SCALE_PATCH_DELAY_SECONDS, STATUS_WRITE_DELAY_SECONDS)
HELD_STATUS_WRITE = f"{STATUS_WRITE_DELAY_SECONDS}: holding the status write of"


def hooks_from(environment: Mapping[str, str]) -> ProcessHooks:
    """The hooks ``environment`` asks for; none when it asks none."""
    return ProcessHooks(
        scale_writes=scale_write_hooks(environment),
        status_write_gate=status_write_hold(environment),
    )


def scale_write_hooks(environment: Mapping[str, str]) -> WriteHooks:
    crash_namespace = environment.get(CRASH_AFTER_SCALE_PATCH, "")
    delay = float(environment.get(SCALE_PATCH_DELAY_SECONDS) or 0.0)

    async def wait(namespace: str) -> None:
        await asyncio.sleep(delay)

    def crash(namespace: str) -> None:
        if namespace == crash_namespace:
            sys.stderr.write(f"{CRASH_AFTER_SCALE_PATCH}: SIGKILL after a /scale patch\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return WriteHooks(
        before_patch=wait if delay > 0 else None,
        after_patch=crash if crash_namespace else None,
    )


def status_write_hold(environment: Mapping[str, str]) -> StatusWriteGate:
    """The same answer as ``may_write``, held for the delay ``environment`` asks after a yes."""
    delay = float(environment.get(STATUS_WRITE_DELAY_SECONDS) or 0.0)
    if delay <= 0:
        return ask_as_is

    def hold(may_write: MayWrite, what: str) -> MayWrite:
        def allowed_then_held() -> bool:
            if not may_write():
                return False
            sys.stderr.write(f"{HELD_STATUS_WRITE} {what} for {delay:g} s\n")
            sys.stderr.flush()
            time.sleep(delay)  # in the status pool's thread, as a stalled send would be
            return True

        return allowed_then_held

    return hold
