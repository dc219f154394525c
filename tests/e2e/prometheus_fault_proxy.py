"""A hostile Prometheus stand-in on 127.0.0.1, switchable at run time (fault F4, issue #18).

In ``pass`` mode it forwards to a real Prometheus; every other mode answers as a broken or
hostile server would. Bounded: every slow answer waits on the proxy's stop event, so
``close`` ends them all, and nothing outlives the fixture that made it. The unit tests of the
Prometheus guardrails use it with an upstream of their own.
"""

from __future__ import annotations

import enum
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from podpilot_dev.ports import free_port

# What the 500 and partial answers carry, so a test can prove it never reaches the operator's
# status, Events or log.
LEAKED_TEXT = "internal-db-password=Hunter2-e2e-leak"
MIB = 1024 * 1024


class Mode(enum.StrEnum):
    PASS = "pass"
    DOWN = "down"  # nothing listens: connection refused
    UNAUTHORIZED = "401"
    SLOW = "slow"  # no answer for ``slow_seconds``
    TRICKLE = "trickle"  # a valid answer, one byte every ``trickle_interval``
    EMPTY = "empty"
    NAN = "nan"
    INF = "inf"
    HUGE_VALUE = "1e308"
    LARGE = "large"  # ``large_bytes`` of valid JSON, no Content-Length
    ERROR_500 = "500"  # a body quoting the request's Authorization header and LEAKED_TEXT
    PARTIAL = "partial"  # a usable-looking vector with warnings


def vector(value: str, series: int = 1) -> bytes:
    result = [{"metric": {"series": str(i)}, "value": [1.0, value]} for i in range(series)]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


FIXED_ANSWERS: dict[Mode, bytes] = {
    Mode.EMPTY: vector("0", series=0),
    Mode.NAN: vector("NaN"),
    Mode.INF: vector("+Inf"),
    Mode.HUGE_VALUE: vector("1e308"),
    Mode.PARTIAL: json.dumps(
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "1"]}]},
            "warnings": [f"store 10.0.0.7:10901 unavailable ({LEAKED_TEXT})"],
        }
    ).encode(),
}


# What the operator must say for each mode: the failure's kind and words of its fixed reason
# (``podpilot.autoscaler.sources.prometheus``). Modes of one kind are never adjacent, so a
# test cycling in this order sees a new evaluation for each.
OPERATOR_REASONS: list[tuple[Mode, str, str]] = [
    (Mode.DOWN, "unreachable", "cannot connect"),
    (Mode.UNAUTHORIZED, "unauthorized", "refused the credentials"),
    (Mode.SLOW, "timeout", "time limit"),
    (Mode.EMPTY, "empty_result", "no series"),
    (Mode.NAN, "bad_response", "nan, not a finite number"),
    (Mode.TRICKLE, "timeout", "time limit"),
    (Mode.INF, "bad_response", "inf, not a finite number"),
    (Mode.LARGE, "response_too_large", "larger than the limit"),
    (Mode.HUGE_VALUE, "bad_response", "range of a quantity"),
    (Mode.ERROR_500, "http_error", "HTTP 500"),
    (Mode.PARTIAL, "partial_response", "warning"),
]


class FaultProxy:
    """``url`` answers as ``mode`` says; ``mode`` may be changed at any time."""

    def __init__(
        self,
        upstream: str | None,
        *,
        slow_seconds: float = 120.0,
        trickle_interval: float = 0.5,
        large_bytes: int = 50 * MIB,
    ) -> None:
        self.upstream = upstream
        self.slow_seconds = slow_seconds
        self.trickle_interval = trickle_interval
        self.large_bytes = large_bytes
        self.stopping = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()
        self._mode = Mode.PASS
        # Below the ephemeral range: while down, no outbound connection can take the port.
        server = self._listen(free_port())
        self._server: ThreadingHTTPServer | None = server
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        """Switch; ``down`` closes the listening socket, leaving it reopens on the same port."""
        with self._lock:
            if mode is Mode.DOWN and self._server is not None:
                self._stop_server()
            elif mode is not Mode.DOWN and self._server is None:
                self._server = self._listen(self.port)
            self._mode = mode

    def close(self) -> None:
        self.stopping.set()
        with self._lock:
            if self._server is not None:
                self._stop_server()

    def _listen(self, port: int) -> ThreadingHTTPServer:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests += 1
                proxy.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return server

    def _stop_server(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        mode = self._mode
        try:
            if mode in FIXED_ANSWERS:
                _reply(request, 200, FIXED_ANSWERS[mode])
            elif mode is Mode.UNAUTHORIZED:
                _reply(request, 401, _echo(request))
            elif mode is Mode.ERROR_500:
                _reply(request, 500, _echo(request))
            elif mode is Mode.SLOW:
                if not self.stopping.wait(self.slow_seconds):
                    _reply(request, 200, vector("1"))
            elif mode is Mode.TRICKLE:
                self._trickle(request)
            elif mode is Mode.LARGE:
                self._large(request)
            else:
                self._forward(request)
        except OSError:
            pass  # the client gave up: exactly what several modes provoke

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        if self.upstream is None:
            _reply(request, 200, vector("1"))
            return
        try:
            with urllib.request.urlopen(self.upstream + request.path, timeout=5) as response:
                _reply(request, response.status, response.read())
        except urllib.error.HTTPError as error:
            _reply(request, error.code, error.read())
        except (urllib.error.URLError, OSError):
            _reply(request, 502, b"upstream unreachable")

    def _trickle(self, request: BaseHTTPRequestHandler) -> None:
        body = vector("1")
        _headers(request, 200, len(body))
        for index in range(len(body)):
            if self.stopping.wait(self.trickle_interval):
                return
            request.wfile.write(body[index : index + 1])
            request.wfile.flush()

    def _large(self, request: BaseHTTPRequestHandler) -> None:
        _headers(request, 200, None)
        series = b',{"metric":{"pod":"padding-padding-padding"},"value":[1.0,"1"]}'
        request.wfile.write(b'{"status":"success","data":{"resultType":"vector","result":[')
        request.wfile.write(series[1:])
        block = series * (MIB // len(series))
        sent = 0
        while sent < self.large_bytes and not self.stopping.is_set():
            request.wfile.write(block)
            sent += len(block)
        request.wfile.write(b"]}}")


def _echo(request: BaseHTTPRequestHandler) -> bytes:
    authorization = request.headers.get("Authorization", "")
    return (
        f"<html>error for {request.path}: Authorization was {authorization!r}; {LEAKED_TEXT}</html>"
    ).encode()


def _headers(request: BaseHTTPRequestHandler, status: int, length: int | None) -> None:
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    if length is not None:
        request.send_header("Content-Length", str(length))
    request.end_headers()


def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    _headers(request, status, len(body))
    request.wfile.write(body)


@contextmanager
def fault_proxy(upstream: str | None, **options: Any) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, **options)
    try:
        yield proxy
    finally:
        proxy.close()


__all__ = [
    "FIXED_ANSWERS",
    "LEAKED_TEXT",
    "OPERATOR_REASONS",
    "FaultProxy",
    "Mode",
    "fault_proxy",
    "vector",
]
