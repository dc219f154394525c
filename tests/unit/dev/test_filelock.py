"""The build lock: one holder at a time, a bounded wait, and a lock that dies with its holder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from podpilot_dev import filelock


def test_a_second_holder_waits_no_longer_than_its_timeout(tmp_path: Path) -> None:
    lock = tmp_path / "build.lock"
    with filelock.exclusive(lock, timeout=1.0):
        started = time.monotonic()
        with (
            pytest.raises(filelock.LockTimeoutError, match="stayed locked"),
            filelock.exclusive(lock, timeout=0.6),
        ):
            pass
        assert time.monotonic() - started >= 0.6
    with filelock.exclusive(lock, timeout=0.1):
        assert lock.exists()


def test_the_lock_is_free_again_once_its_holding_process_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / "build.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"handle = open({str(lock)!r}, 'a')\n"
            "fcntl.flock(handle, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(filelock.LockTimeoutError), filelock.exclusive(lock, timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    with filelock.exclusive(lock, timeout=5.0):
        assert lock.exists()
