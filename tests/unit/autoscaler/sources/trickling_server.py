"""A server on 127.0.0.1 that sends its HTTP answer a byte at a time: each byte well within a
per-read timeout, the whole far beyond any deadline. Also used by the emptyDir poller's tests."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


def http_answer(body: bytes, status: str = "200 OK", padding: int = 200) -> bytes:
    """A whole HTTP/1.1 answer with a ``Content-Length``, its headers made ``padding`` bytes
    longer so that trickling them takes a while."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"X-Padding: {'p' * padding}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Trickler:
    """What the server sends: ``answer``, its first ``at_once`` bytes at once and then a byte
    every ``interval`` seconds, to every request after the first ``whole_first`` of each
    connection (those get it whole, so a later request comes on a pooled connection)."""

    answer: bytes
    interval: float = 0.2
    at_once: int = 0
    whole_first: int = 0
    url: str = ""
    connections: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)


@contextmanager
def trickling(trickler: Trickler) -> Iterator[Trickler]:
    """Serve ``trickler`` until the block ends; its ``url`` is set. Every trickle stops then."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            trickler.connections += 1
            requests = 0
            with suppress(OSError):  # the client gave up: what the tests provoke
                while self._read_request():
                    requests += 1
                    self._send(whole=requests <= trickler.whole_first)

        def _read_request(self) -> bool:
            line = self.rfile.readline()
            while line not in (b"\r\n", b"\n", b""):
                line = self.rfile.readline()
            return line != b""

        def _send(self, whole: bool) -> None:
            answer = trickler.answer
            start = len(answer) if whole else trickler.at_once
            self.wfile.write(answer[:start])
            for index in range(start, len(answer)):
                if trickler.stopping.wait(trickler.interval):
                    return
                self.wfile.write(answer[index : index + 1])

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    trickler.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield trickler
    finally:
        trickler.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
