"""One process at a time for work that two processes on the machine may start at once.

``scripts/dev test`` runs the kind tier beside the e2e tier's workers: both tiers may build the
operator image on a fresh machine (one builds it, the other waits and finds it cached), and
each worker starts a dev cluster whose bridge subnet must not be the other's (one starts, then
the other). An exclusive ``flock`` serves both; the kernel drops it when its holder dies, so a
killed build or start never leaves it held.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_INTERVAL = 0.5


class LockTimeoutError(RuntimeError):
    """Another process held the lock for longer than the caller would wait."""


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting at most ``timeout`` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"{path} stayed locked by another process for {timeout:.0f} s"
                    ) from None
                time.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
