"""Whether a started process still runs (podpilot_dev.processes.is_alive), on real children."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

from podpilot_dev import processes


def _recorded(child: subprocess.Popen[bytes]) -> processes.RunningProcess:
    return processes.RunningProcess(
        "child", child.pid, processes._start_ticks(child.pid), log="", port=None, health=None
    )


def _state(pid: int) -> str:
    return processes._stat_fields(pid)[0]


def test_a_running_child_is_alive() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert processes.is_alive(_recorded(child))
        finally:
            child.kill()


def test_an_exited_child_is_not_alive_before_or_after_it_is_reaped() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"]) as child:
        recorded = _recorded(child)
        deadline = time.monotonic() + 10
        while _state(child.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(child.pid) == "Z"
        assert not processes.is_alive(recorded)
        child.wait()
        assert not processes.is_alive(recorded)


def test_a_reused_pid_is_not_the_recorded_process() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            recorded = _recorded(child)
            reused = dataclasses.replace(recorded, start_ticks=recorded.start_ticks - 1)
            assert not processes.is_alive(reused)
        finally:
            child.kill()
