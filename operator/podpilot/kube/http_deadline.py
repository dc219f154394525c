"""One deadline over a whole HTTP exchange: connecting, TLS, the request, the status line and
headers, and the last byte of the body, however slowly the server sends them.

A socket timeout bounds each read, so a server sending a byte just within it holds the reading
thread as long as it likes. Inside ``within(seconds)``, every socket that a guarded connection
(``requests`` through a ``DeadlineAdapter``, urllib3 through a pool manager given to
``guard_pools``) opens or reuses on this thread is handed to a watchdog, which shuts it at the
deadline: the blocked read returns at once, the thread is free, and the block raises
``TimeoutError``. Connections used outside ``within`` are not watched. Name resolution happens
before a socket exists and is not covered.

Used by the Prometheus source, the backtest's range reads, and the kubelet Summary reads.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()  # the watchdog of the exchange running on this thread


class Watchdog:
    """Shuts the sockets handed to it at ``deadline`` (monotonic), until ``stop``.

    Raises (from ``__init__``):
        OSError: No timer thread could start (a process or memory limit).
    """

    def __init__(self, deadline: float) -> None:
        self.fired = threading.Event()
        self._lock = threading.Lock()  # no descriptor is touched after ``stop``
        self._stopped = False
        self._sockets: dict[int, socket.socket] = {}  # by the guarded socket's descriptor
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        try:
            self._timer.start()
        except RuntimeError as error:
            raise OSError(f"no deadline could be kept: {error}") from None

    def guard(self, sock: socket.socket) -> None:
        """Shut ``sock`` at the deadline, or now if it has passed. Through a duplicate of its
        descriptor: ``shutdown`` acts on the connection, whichever object holds the descriptor
        by then (TLS moves it into a new socket object), and the duplicate is ours to close,
        so a descriptor number reused meanwhile is never touched."""
        with self._lock:
            if self._stopped:
                return
            try:
                number = sock.fileno()
                duplicate = socket.socket(fileno=os.dup(number))
            except OSError:  # closed already, or no descriptor left: no deadline, so fail now
                _shut(sock)
                return
            previous = self._sockets.pop(number, None)
            if previous is not None:  # the same connection again, or a closed one's number
                previous.close()
            self._sockets[number] = duplicate
            if self.fired.is_set():
                _shut(duplicate)

    def release(self, sock: socket.socket) -> bool:
        """Stop watching ``sock``, a connection going back to its pool for another request.
        Returns whether the deadline has passed: then the connection may be cut short and must
        not be reused."""
        with self._lock:
            with suppress(OSError):
                duplicate = self._sockets.pop(sock.fileno(), None)
                if duplicate is not None:
                    duplicate.close()
            return self.fired.is_set()

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            for duplicate in self._sockets.values():
                duplicate.close()
            self._sockets.clear()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired.set()
            for duplicate in self._sockets.values():
                _shut(duplicate)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # the peer or the reader closed it first
        sock.shutdown(socket.SHUT_RDWR)


# What a read cut by the watchdog raises, through each layer that may wrap it.
_CUT_SHORT = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


@contextmanager
def within(seconds: float) -> Iterator[Watchdog]:
    """Run the block's exchanges (through a ``DeadlineAdapter``) under one deadline.

    Raises:
        TimeoutError: The deadline passed before the block ended; also when the cut connection
            looked like an answer's end to the reader.
        OSError: No deadline could be kept (no timer thread could start).
    """
    watchdog = Watchdog(time.monotonic() + seconds)
    outer = getattr(_current, "watchdog", None)
    _current.watchdog = watchdog
    try:
        yield watchdog
    except _CUT_SHORT:
        if watchdog.fired.is_set():
            raise TimeoutError from None
        raise
    finally:
        _current.watchdog = outer
        watchdog.stop()
    if watchdog.fired.is_set():
        raise TimeoutError


def _hand_over(sock: socket.socket) -> None:
    watchdog: Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.guard(sock)


class _HandsOverSockets(HTTPConnection):
    """A connection that hands its socket to the running exchange's watchdog: a new socket as
    soon as it is connected (before TLS), a pooled one when a request is sent on it."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _hand_over(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _hand_over(self.sock)
        super().request(*args, **kwargs)


class _GuardedHTTPConnection(_HandsOverSockets):
    pass


class _GuardedHTTPSConnection(_HandsOverSockets, HTTPSConnection):
    pass


class _ReleasesSockets(HTTPConnectionPool):
    """A pool that takes a connection back out of the running exchange's watchdog before
    another thread can take it: the watchdog would otherwise cut that thread's request at the
    deadline. A connection whose deadline passed is closed instead of reused."""

    def _put_conn(self, conn: Any) -> None:
        watchdog: Watchdog | None = getattr(_current, "watchdog", None)
        sock = getattr(conn, "sock", None)
        if watchdog is not None and sock is not None and watchdog.release(sock):
            conn.close()
        super()._put_conn(conn)


class _GuardedHTTPPool(_ReleasesSockets):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(_ReleasesSockets, HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


_GUARDED_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def guard_pools(manager: urllib3.PoolManager) -> None:
    """Bring the connections of the pools ``manager`` makes from now on under ``within``'s
    watchdog; a pool it made already is closed, so that none is left unguarded."""
    # A SOCKS proxy's manager has pools of its own kind; they stay as they are.
    if manager.pool_classes_by_scheme == urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = dict(_GUARDED_POOLS)
        manager.clear()


def guarded(manager: urllib3.PoolManager) -> bool:
    """Whether ``guard_pools`` brought ``manager``'s connections under the watchdog."""
    return manager.pool_classes_by_scheme == _GUARDED_POOLS


class DeadlineAdapter(HTTPAdapter):
    """``requests``' adapter (no retries by default) whose connections, direct or through an
    HTTP proxy, come under ``within``'s watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        guard_pools(self.poolmanager)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> urllib3.ProxyManager:
        manager: urllib3.ProxyManager = super().proxy_manager_for(*args, **kwargs)
        guard_pools(manager)
        return manager


@contextmanager
def streamed_get(
    session: requests.Session, url: str, timeout: float, **options: Any
) -> Iterator[requests.Response]:
    """``GET url``, its body left to be read in the block, all of it within ``timeout`` seconds
    (else ``TimeoutError``). A redirect is never followed: it could lead anywhere."""
    if not isinstance(session.get_adapter(url), DeadlineAdapter):
        raise TypeError("the session has no DeadlineAdapter for this URL")
    with (
        within(timeout),
        session.get(url, timeout=timeout, stream=True, allow_redirects=False, **options) as answer,
    ):
        yield answer


__all__ = ["DeadlineAdapter", "Watchdog", "guard_pools", "guarded", "streamed_get", "within"]
