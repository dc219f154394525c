"""Killing a dev-cluster component and relaunching it from its recorded command line, with real
child processes (a Python that writes what it was started with, then sleeps at most 60 s)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podpilot_dev import cluster, processes
from podpilot_dev.processes import ComponentFailedError, RunningProcess

SCRIPT = (
    "import os, sys, time; "
    "open(sys.argv[1], 'a').write(os.environ['MARK'] + ' ' + os.getcwd() + '\\n'); "
    "time.sleep(60)"
)


def wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{path} never had {count} lines")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[cluster.ClusterState]:
    """A dev-cluster state holding one started component, stopped at the end whatever its PID."""
    state = cluster.ClusterState(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    state.processes["fake"] = processes.start(
        "fake",
        [sys.executable, "-c", SCRIPT, str(tmp_path / "started")],
        state.log_dir,
        port=1234,
        environment={"MARK": "recorded"},
        cwd=work,
    )
    state.save()
    yield state
    processes.stop(state.processes["fake"], grace=2)


def test_a_killed_component_is_relaunched_as_it_was_started(
    state: cluster.ClusterState, tmp_path: Path
) -> None:
    first = state.processes["fake"]
    assert wait_for_lines(tmp_path / "started", 1) == [f"recorded {tmp_path / 'work'}"]

    processes.kill(first)
    assert not processes.is_alive(first)
    second = cluster.relaunch(state, "fake", timeout=10, report=lambda _: None)

    assert second.pid != first.pid and processes.is_alive(second)
    assert (second.command, second.environment, second.cwd, second.port, second.log) == (
        first.command, first.environment, first.cwd, first.port, first.log,
    )  # fmt: skip
    assert wait_for_lines(tmp_path / "started", 2)[1] == f"recorded {tmp_path / 'work'}"
    saved = cluster.ClusterState.load(tmp_path)
    assert saved is not None and saved.processes["fake"] == second
    assert Path(second.log).read_text().count("=== ") == 2  # one log, a header per start


def test_relaunching_a_running_component_replaces_it(state: cluster.ClusterState) -> None:
    first = state.processes["fake"]
    second = cluster.relaunch(state, "fake", timeout=10, report=lambda _: None)
    assert not processes.is_alive(first) and processes.is_alive(second)


def test_a_state_written_before_commands_were_recorded_cannot_be_relaunched() -> None:
    old = {"name": "etcd", "pid": 1, "start_ticks": 0, "log": "/x/etcd.log", "port": None}
    process = RunningProcess.from_dict(old)
    assert process.command == () and process.environment is None
    with pytest.raises(ComponentFailedError, match="without a recorded command line"):
        processes.relaunch(process)
