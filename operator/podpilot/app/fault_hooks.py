"""Fault-injection hooks for the e2e tests, off unless their environment variable is set.

They put a fault at a point no outside injection can hit reliably:

``PODPILOT_TEST_CRASH_AFTER_SCALE_PATCH=<namespace>``
    the process SIGKILLs itself right after a successful ``/scale`` patch of a target in
    ``<namespace>``, before the status write that follows it (fault F8).
``PODPILOT_TEST_SCALE_PATCH_DELAY_SECONDS=<seconds>``
    every ``/scale`` patch waits this long first, widening the time between reading a
    target's scale and writing it, so a concurrent ``kubectl scale`` meets it (fault F10).

Never set them in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping

from podpilot.kube.scale import WriteHooks

CRASH_AFTER_SCALE_PATCH = "PODPILOT_TEST_CRASH_AFTER_SCALE_PATCH"
SCALE_PATCH_DELAY_SECONDS = "PODPILOT_TEST_SCALE_PATCH_DELAY_SECONDS"


def scale_write_hooks(environment: Mapping[str, str]) -> WriteHooks:
    """The hooks ``environment`` asks for; none (the production case) when it asks none."""
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
