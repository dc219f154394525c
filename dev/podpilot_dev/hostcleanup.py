"""Find and remove what real nodes leave on the host: processes, mounts and cgroups.

Everything here is scoped by a path the dev cluster created (a node directory or a cgroup
name with the cluster's id), so it never touches anything else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

CGROUP_V1_ROOT = Path("/sys/fs/cgroup")


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def processes_using(paths: list[str], cgroup_prefix: str) -> list[int]:
    """PIDs whose command line mentions one of ``paths`` (the containerd shims name their
    node's socket) or whose cgroup lies under ``/<cgroup_prefix>`` (the containers)."""
    paths = [path for path in paths if path]
    if not cgroup_prefix:
        raise ValueError("an empty cgroup prefix would match every process")
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        command = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
        cgroups = _read(f"/proc/{pid}/cgroup")
        if any(path in command for path in paths) or any(
            line.split(":", 2)[-1].startswith(f"/{cgroup_prefix}") for line in cgroups.splitlines()
        ):
            found.append(pid)
    return found


def kill_all(pids: list[int], grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            for pid in pids:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)


def mounts_under(directories: list[Path]) -> list[str]:
    """Mount points at or below any of ``directories``, deepest first."""
    prefixes = [str(directory.resolve()) for directory in directories]
    points = []
    for line in _read("/proc/self/mountinfo").splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == prefix or point.startswith(prefix + "/") for prefix in prefixes):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(directories: list[Path]) -> list[str]:
    """Unmount everything below ``directories``; return what could not be unmounted."""
    for _ in range(5):
        points = mounts_under(directories)
        if not points:
            return []
        for point in points:
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
    return mounts_under(directories)


def cgroup_dirs(name: str) -> list[Path]:
    """``/sys/fs/cgroup/<hierarchy>/<name>`` in every mounted v1 hierarchy (and unified)."""
    if not CGROUP_V1_ROOT.exists():
        return []
    return [
        hierarchy / name
        for hierarchy in sorted(CGROUP_V1_ROOT.iterdir())
        if hierarchy.is_dir() and (hierarchy / "cgroup.procs").exists()
    ]


def remove_cgroup_tree(top: Path) -> bool:
    """rmdir ``top`` and its children, deepest first; return whether it is gone."""
    if not top.exists():
        return True
    # Bottom-up, ``top`` last; os.walk passes over a directory removed while it walks.
    deepest_first = [Path(directory) for directory, _, _ in os.walk(top, topdown=False)]
    for directory in deepest_first:
        for _ in range(20):
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
    return not top.exists()


def create_cgroup(name: str) -> list[Path]:
    """Create ``name`` in every hierarchy; cpuset needs its cpus and mems filled in first."""
    created = []
    for directory in cgroup_dirs(name):
        directory.mkdir(exist_ok=True)
        created.append(directory)
        if directory.parent.name == "cpuset":
            for setting in ("cpuset.cpus", "cpuset.mems"):
                value = (directory.parent / setting).read_text().strip()
                (directory / setting).write_text(value)
    return created
