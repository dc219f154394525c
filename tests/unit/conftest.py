"""Fixtures shared by unit tests: a real socket server that accepts and never answers; the
chart rendered by the helm binary the dev toolchain builds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.chart_render import Helm, Render, built_tool, helm_runner, renderer


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte: an
    apiserver (or any HTTP server) that hangs. Connections are held open until ``close``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig whose one context points at ``server`` (TLS not verified, a token user)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "silent",
        "clusters": [
            {"name": "silent", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "silent", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "silent"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(params=["http", "https"])
def silent_kubeconfig(
    request: pytest.FixtureRequest, silent_server: SilentServer, tmp_path: Path
) -> tuple[Path, str]:
    """A kubeconfig for the silent server, over plain HTTP and over TLS (whose handshake is
    never answered either), and the server's URL."""
    url = silent_server.url(request.param)
    return write_kubeconfig(tmp_path / "kubeconfig", url), url


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The toolchain's helm, with a home of its own; skips (saying so) until it is built."""
    return helm_runner(built_tool("helm"), tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """`helm template rel <chart> --namespace=ops ...`, parsed into documents."""
    return renderer(helm)
