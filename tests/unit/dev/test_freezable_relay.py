"""The freezable relay the fault tests put in front of the apiserver for one operator replica,
against a real echo server on 127.0.0.1 (podpilot_dev.relay.FreezableRelay)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from podpilot_dev.relay import FreezableRelay

QUIET = 0.5  # seconds in which a frozen relay must pass nothing


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay(echo_port: int) -> Iterator[FreezableRelay]:
    with FreezableRelay(echo_port, max_connections=3) as running:
        yield running


def connect(relay: FreezableRelay) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    client.settimeout(5)
    return client


def nothing_arrives(client: socket.socket) -> bool:
    client.settimeout(QUIET)
    try:
        return client.recv(100) == b"never"  # a timeout is the expected outcome
    except TimeoutError:
        return True
    finally:
        client.settimeout(5)


def forwarded_settles_at(relay: FreezableRelay, expected: int) -> bool:
    """The count is added after each write is flushed, just after the peer may have read it."""
    deadline = time.monotonic() + 5
    while relay.forwarded_bytes != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return relay.forwarded_bytes == expected


def test_a_thawed_relay_passes_bytes_both_ways_and_counts_them(relay: FreezableRelay) -> None:
    with connect(relay) as client:
        client.sendall(b"hello")
        assert client.recv(100) == b"hello"
    assert forwarded_settles_at(relay, 10)


def test_frozen_connections_stay_open_and_resume_on_thaw(relay: FreezableRelay) -> None:
    with connect(relay) as before:
        before.sendall(b"one")
        assert before.recv(100) == b"one"
        relay.freeze()
        before.sendall(b"two")
        assert nothing_arrives(before)
        with connect(relay) as during:  # accepted while frozen, but nothing passes
            during.sendall(b"three")
            assert nothing_arrives(during)
            assert forwarded_settles_at(relay, 6)  # "one", both ways
            relay.thaw()
            assert before.recv(100) == b"two"
            assert during.recv(100) == b"three"
    assert forwarded_settles_at(relay, 6 + 6 + 10)


def test_connections_beyond_the_bound_are_closed(relay: FreezableRelay) -> None:
    relay.freeze()
    held = [connect(relay) for _ in range(3)]
    try:
        with connect(relay) as extra:
            assert extra.recv(100) == b""  # closed by the relay
    finally:
        for client in held:
            client.close()


def test_stopping_closes_every_connection_even_frozen(echo_port: int) -> None:
    relay = FreezableRelay(echo_port).start()
    client = connect(relay)
    relay.freeze()
    client.sendall(b"lost")
    relay.stop()
    try:
        assert client.recv(100) == b""
    finally:
        client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
