"""A real HTTP server on 127.0.0.1 for unit tests: fixed answers by path, stopped on exit.
Optionally over TLS, and optionally an apiserver that checks bearer tokens."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

Answer = tuple[int, bytes]  # status, body
UNAUTHORIZED: Answer = (
    401,
    b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized",'
    b'"reason":"Unauthorized","code":401}',
)  # as kube-apiserver answers a token it does not accept


def write_kubeconfig(path: Path, server: str, user: Mapping[str, Any] | None = None) -> Path:
    """A kubeconfig at ``path`` whose one context reaches ``server`` as ``user`` (a bearer
    token by default)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": dict(user or {"token": "t"})}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class _Handler(BaseHTTPRequestHandler):
    answers: Mapping[str, Answer] = {}
    default: Answer = (404, b'{"kind":"Status","code":404}')
    authorization: Callable[[], str] | None = None
    seen: list[str | None] | None = None
    user_agents: list[str | None] | None = None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"  # pykube adds a trailing slash
        sent = self.headers.get("Authorization")
        if self.seen is not None:
            self.seen.append(sent)
        if self.user_agents is not None:
            self.user_agents.append(self.headers.get("User-Agent"))
        if self.authorization is not None and sent != self.authorization():
            status, body = UNAUTHORIZED
        else:
            status, body = self.answers.get(path, self.default)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(
    answers: Mapping[str, Answer],
    default: Answer | None = None,
    *,
    authorization: Callable[[], str] | None = None,
    seen: list[str | None] | None = None,
    user_agents: list[str | None] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Serve ``answers`` (path -> status and body; others get ``default``, a 404) until the
    block ends; yields the base URL. ``answers`` is read at each request, so a test may change
    it meanwhile. With ``authorization``, a request whose ``Authorization`` header is not its
    value at that moment gets 401, as from an apiserver; ``seen`` collects each request's
    header, ``user_agents`` its ``User-Agent``. ``tls`` (certificate and key files) serves HTTPS."""
    attributes: dict[str, Any] = {"answers": answers, "seen": seen, "user_agents": user_agents}
    if default is not None:
        attributes["default"] = default
    if authorization is not None:
        attributes["authorization"] = staticmethod(authorization)
    with handled_by(type("Handler", (_Handler,), attributes), tls) as url:
        yield url


@contextmanager
def handled_by(
    handler: type[BaseHTTPRequestHandler], tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """A server on 127.0.0.1 whose requests ``handler`` answers, over TLS with ``tls``
    (certificate and key files), until the block ends; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
