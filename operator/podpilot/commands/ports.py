"""The addresses ``podpilot run`` listens on (``/metrics`` and ``/healthz``), tried before
anything starts: both servers start late, inside kopf, where a port in use becomes a
traceback retried at every start-up attempt instead of one line."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from podpilot.commands.conventions import CommandError, whole_number_within

MAX_PORT = 65535


@dataclass(frozen=True)
class Listener:
    """One server's address and port, with the flags that set them."""

    address_flag: str
    port_flag: str
    address: str
    port: int


def port_number(text: str) -> int:
    """A TCP port to listen on: 1 to 65535."""
    return whole_number_within(text, "a port", 1, MAX_PORT)


def check_free(listeners: Sequence[Listener]) -> None:
    """Bind every listener's address, all at once (two flags given one port clash as well),
    then let them go.

    Raises:
        CommandError: Naming the flag of the first one that cannot be bound, and why.
    """
    held: list[socket.socket] = []
    try:
        for listener in listeners:
            try:
                held.append(_bound(listener.address, listener.port))
            except (OSError, UnicodeError) as error:  # UnicodeError: a host label too long
                raise CommandError(_refusal(listener, error)) from None
    finally:
        for bound in held:
            bound.close()


def _bound(address: str, port: int) -> socket.socket:
    family, kind, protocol, _, where = socket.getaddrinfo(
        address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    bound = socket.socket(family, kind, protocol)
    try:
        # As both servers bind: a connection of the last run left in TIME_WAIT is no conflict,
        # but a socket listening there is (and listening makes a clash between our own two).
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(where)
        bound.listen()
    except OSError:
        bound.close()
        raise
    return bound


def _refusal(listener: Listener, error: OSError | UnicodeError) -> str:
    about_port = isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, errno.EACCES)
    flag = listener.port_flag if about_port else listener.address_flag
    value = listener.port if about_port else listener.address
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
    host = f"[{listener.address}]" if ":" in listener.address else listener.address
    return f"{flag} {value}: cannot listen on {host}:{listener.port}: {reason}"
