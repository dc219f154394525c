"""Start, watch and stop the dev cluster's local processes, each tracked by PID."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The components outlive the Popen objects that started them (they run detached, tracked by
# PID). Keeping the objects referenced stops Python from warning, when one is garbage
# collected, that its still-running child was never waited for.
_DETACHED_CHILDREN: list[subprocess.Popen[bytes]] = []


@atexit.register
def _leave_detached_children_running() -> None:
    # A component this process started (a fault test's restart) and did not stop is meant to
    # keep running after it exits: ``cluster down`` stops it by PID. Its Popen object, collected
    # at interpreter exit, would otherwise warn that it "is still running".
    if any(child.poll() is None for child in _DETACHED_CHILDREN):
        warnings.filterwarnings(
            "ignore", message=r"subprocess \d+ is still running", category=ResourceWarning
        )


class ComponentFailedError(RuntimeError):
    """A component exited or never became healthy; the message points at its log."""


@dataclass(frozen=True)
class HealthCheck:
    """An HTTP(S) GET on 127.0.0.1 that must answer 200."""

    url: str
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class RunningProcess:
    """What ``down``, ``status`` and ``relaunch`` need to know about one started process.

    ``command``, ``environment`` (None: the starter's own) and ``cwd`` are recorded so that
    the fault tests can relaunch a killed component exactly as it was started; a state written
    before they were recorded has an empty ``command`` and cannot be relaunched.
    """

    name: str
    pid: int
    start_ticks: int
    log: str
    port: int | None
    health: HealthCheck | None
    command: tuple[str, ...] = ()
    environment: dict[str, str] | None = None
    cwd: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunningProcess:
        health = data.get("health")
        environment = data.get("environment")
        return cls(
            name=data["name"],
            pid=data["pid"],
            start_ticks=data["start_ticks"],
            log=data["log"],
            port=data.get("port"),
            health=HealthCheck(**health) if health else None,
            command=tuple(data.get("command") or ()),
            environment=dict(environment) if environment is not None else None,
            cwd=data.get("cwd"),
        )


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (the state first); empty when
    the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_ticks(pid: int) -> int:
    """The process start time in clock ticks, to tell a PID from a reused one."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else -1


def is_alive(process: RunningProcess) -> bool:
    # One read: a process reaped between two reads of its stat would raise at the second.
    fields = _stat_fields(process.pid)
    return bool(fields) and int(fields[19]) == process.start_ticks and fields[0] != "Z"


def start(
    name: str,
    command: Sequence[str],
    log_dir: Path,
    *,
    port: int | None = None,
    health: HealthCheck | None = None,
    environment: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> RunningProcess:
    """Start ``command`` detached from this terminal, logging to ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%F %T')} {' '.join(command)}\n".encode())
        log.flush()
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(environment) if environment is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    _DETACHED_CHILDREN.append(child)
    return RunningProcess(
        name,
        child.pid,
        _start_ticks(child.pid),
        str(log_path),
        port,
        health,
        command=tuple(command),
        environment=dict(environment) if environment is not None else None,
        cwd=str(cwd) if cwd is not None else None,
    )


def relaunch(process: RunningProcess) -> RunningProcess:
    """Start ``process``'s recorded command again (same log, port, health check, environment
    and working directory); the caller makes sure the old one is gone."""
    if not process.command:
        raise ComponentFailedError(
            f"{process.name} was started without a recorded command line; restart the dev "
            f"cluster to relaunch it"
        )
    return start(
        process.name,
        process.command,
        Path(process.log).parent,
        port=process.port,
        health=process.health,
        environment=process.environment,
        cwd=Path(process.cwd) if process.cwd is not None else None,
    )


def probe(check: HealthCheck, timeout: float = 3.0) -> tuple[bool, str]:
    """GET the health URL once; return (healthy, short detail)."""
    context: ssl.SSLContext | None = None
    if check.url.startswith("https://"):
        context = ssl.create_default_context(cafile=check.ca_file)
        if check.insecure or check.ca_file is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if check.client_cert:
            context.load_cert_chain(check.client_cert, check.client_key)
    try:
        with urllib.request.urlopen(check.url, timeout=timeout, context=context) as response:
            body = response.read(200).decode(errors="replace").strip()
            return response.status == 200, body or str(response.status)
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (OSError, ssl.SSLError) as error:
        return False, str(getattr(error, "reason", error))


def _log_tail(process: RunningProcess, lines: int = 25) -> str:
    try:
        return "\n".join(Path(process.log).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def wait_healthy(process: RunningProcess, timeout: float = 120.0) -> None:
    """Block until the process answers its health check, or fail with its log's tail."""
    deadline = time.monotonic() + timeout
    detail = "not probed"
    while time.monotonic() < deadline:
        if not is_alive(process):
            raise ComponentFailedError(
                f"{process.name} exited during start-up; last lines of {process.log}:\n"
                + _log_tail(process)
            )
        if process.health is None:
            return
        healthy, detail = probe(process.health)
        if healthy:
            return
        time.sleep(0.5)
    raise ComponentFailedError(
        f"{process.name} not healthy after {timeout:.0f}s ({detail}); "
        f"last lines of {process.log}:\n" + _log_tail(process)
    )


def stop(process: RunningProcess, grace: float = 10.0) -> bool:
    """Stop exactly this process (and its session); return whether it was running."""
    if not is_alive(process):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(process.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not is_alive(process):
                _reap(process.pid)
                return True
            time.sleep(0.1)
    return True


def kill(process: RunningProcess, timeout: float = 10.0) -> None:
    """SIGKILL exactly this process (and its session), as a crash would, and wait until it is
    gone; a process that is not running is left alone."""
    if not is_alive(process):
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while is_alive(process):
        if time.monotonic() > deadline:
            raise ComponentFailedError(f"{process.name} (pid {process.pid}) survived SIGKILL")
        time.sleep(0.05)
    _reap(process.pid)


def _reap(pid: int) -> None:
    # Through our own Popen object when we started it, so that it learns its exit code and
    # does not warn at interpreter exit that its child "is still running".
    for child in _DETACHED_CHILDREN:
        if child.pid == pid:
            if child.poll() is not None:
                _DETACHED_CHILDREN.remove(child)
            return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
