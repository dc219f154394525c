"""A real HTTP server on 127.0.0.1 for unit tests: fixed answers by path, stopped on exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Answer = tuple[int, bytes]  # status, body


class _Handler(BaseHTTPRequestHandler):
    answers: Mapping[str, Answer] = {}
    default: Answer = (404, b'{"kind":"Status","code":404}')

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"  # pykube adds a trailing slash
        status, body = self.answers.get(path, self.default)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(answers: Mapping[str, Answer], default: Answer | None = None) -> Iterator[str]:
    """Serve ``answers`` (path -> status and body; others get ``default``, a 404) until the
    block ends; yields the base URL. ``answers`` is read at each request, so a test may change
    it meanwhile."""
    attributes: dict[str, Any] = {"answers": answers}
    if default is not None:
        attributes["default"] = default
    handler = type("Handler", (_Handler,), attributes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
