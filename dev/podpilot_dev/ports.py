"""Listening ports on 127.0.0.1 for the dev cluster's components and the tests' own servers.

A port is chosen some time before its server binds it (a component starts seconds after the
cluster's ports are picked), so two things could take it meanwhile: an outbound connection,
whose source port the kernel picks from its ephemeral range, and another pytest-xdist worker
choosing at the same moment. Ports are therefore picked below the ephemeral range, from a
slice of their own per worker, and in turn: a process hands out every port of its slice before
it hands out one again, so two choices made before either port is bound never coincide.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Sequence
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000
"""Above the ports servers on a workstation usually take (8080, 9090) and the well-known ones."""
SLICES = 9
"""One for a process outside pytest-xdist, one each for workers gw0 to gw7 (more wrap around)."""

_turns = itertools.count(random.randrange(1 << 16))
"""Where this process's walk through its slice starts: another process sharing the slice (a
command the tests run) most likely starts far from it."""


class NoFreePortError(RuntimeError):
    pass


def ephemeral_start(range_text: str) -> int:
    """The first port of the kernel's ephemeral range, from ``ip_local_port_range``'s text."""
    return int(range_text.split()[0])


def slice_index(worker: str | None) -> int:
    """``None`` outside pytest-xdist, else the worker's name (``gw3``)."""
    if worker is None or not worker.startswith("gw") or not worker[2:].isdigit():
        return 0
    return 1 + int(worker[2:]) % (SLICES - 1)


def port_slice(first_ephemeral: int, index: int) -> range:
    """The ports of slice ``index`` among those from ``LOWEST_PORT`` up to the ephemeral range;
    empty when that range starts too low to leave any."""
    size = (first_ephemeral - LOWEST_PORT) // SLICES
    if size <= 0:
        return range(0)
    start = LOWEST_PORT + index * size
    return range(start, start + size)


def _ours() -> range:
    try:
        first_ephemeral = ephemeral_start(EPHEMERAL_RANGE_FILE.read_text())
    except (OSError, ValueError, IndexError):
        return range(0)
    return port_slice(first_ephemeral, slice_index(os.environ.get("PYTEST_XDIST_WORKER")))


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, from this process's slice.
    Where the ephemeral range leaves no room below it, any port the kernel gives."""
    ours = _ours()
    if not ours:
        return _any_port()
    for _ in ours:
        port = ours[next(_turns) % len(ours)]
        if _binds(port):
            return port
    raise NoFreePortError(f"no free port on 127.0.0.1 in {ours.start}-{ours.stop - 1}")


def free_ports(names: Sequence[str]) -> dict[str, int]:
    """Distinct free ports, one per name."""
    chosen: dict[str, int] = {}
    while len(chosen) < len(names):
        port = free_port()
        if port not in chosen.values():
            chosen[names[len(chosen)]] = port
    return chosen
