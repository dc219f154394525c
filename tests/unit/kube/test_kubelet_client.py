"""The direct kubelet read against a real TLS server on 127.0.0.1: the serving certificate is
verified against the configured CA, a wrong CA gets no request (and no token) through, the
insecure opt-out skips verification, and every failure is a bounded, body-free error."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import kubernetes
import pytest
import urllib3
from tests.unit.emptydir.helpers import summary_document

from podpilot.kube.clients import Timeouts
from podpilot.kube.kubelet import KubeletClient, KubeletError
from podpilot.settings import KubeletSettings
from podpilot_dev import pki as dev_pki
from podpilot_dev.ports import free_port

TOKEN = "kubelet-test-token"
SUMMARY = json.dumps(summary_document("uid-p", "data", 5)).encode()


class FakeKubelet(BaseHTTPRequestHandler):
    """Answers ``/stats/summary`` as the kubelet does; ``status`` and ``body`` set per server."""

    status = 200
    body = SUMMARY
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def cluster_pki(tmp_path_factory: pytest.TempPathFactory) -> dev_pki.Pki:
    return dev_pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> dev_pki.Pki:
    return dev_pki.create(tmp_path_factory.mktemp("other-pki"))


class QuietTLSServer(ThreadingHTTPServer):
    """A client refusing the certificate is what some tests want, not an error to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ssl.SSLError):
            super().handle_error(request, client_address)


def _serve(pki: dev_pki.Pki, status: int, body: bytes) -> Iterator[tuple[int, type[FakeKubelet]]]:
    handler = type("Handler", (FakeKubelet,), {"status": status, "body": body, "seen": []})
    server = QuietTLSServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert("serving"), pki.key("serving"))  # SAN 127.0.0.1
    # The handshake runs in the request thread, which closes the socket when it fails.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kubelet(cluster_pki: dev_pki.Pki) -> Iterator[tuple[int, type[FakeKubelet]]]:
    yield from _serve(cluster_pki, 200, SUMMARY)


@pytest.fixture
def forbidding_kubelet(cluster_pki: dev_pki.Pki) -> Iterator[tuple[int, type[FakeKubelet]]]:
    yield from _serve(cluster_pki, 403, b"Forbidden (user=x, verb=get, resource=nodes, secret)")


OPEN_CLIENTS: list[KubeletClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


SHORT = Timeouts(2, 2)


def client(tls: KubeletSettings, timeouts: Timeouts = SHORT) -> KubeletClient:
    configuration = kubernetes.client.Configuration()
    configuration.api_key["authorization"] = f"Bearer {TOKEN}"
    OPEN_CLIENTS.append(KubeletClient(configuration, tls, timeouts))
    return OPEN_CLIENTS[-1]


def refusal(port: int, ca: Path) -> KubeletError:
    """The error of a Summary read from 127.0.0.1:``port`` that trusts ``ca``."""
    with pytest.raises(KubeletError) as raised:
        client(KubeletSettings(ca_file=str(ca))).summary("127.0.0.1", port)
    return raised.value


def test_a_verified_kubelet_gets_the_token_and_answers(
    kubelet: tuple[int, type[FakeKubelet]], cluster_pki: dev_pki.Pki
) -> None:
    port, handler = kubelet
    body = client(KubeletSettings(ca_file=str(cluster_pki.ca_cert))).summary("127.0.0.1", port)
    assert body == SUMMARY
    assert handler.seen == [("/stats/summary", f"Bearer {TOKEN}")]


def test_a_wrong_ca_fails_before_any_request_is_sent(
    kubelet: tuple[int, type[FakeKubelet]], other_pki: dev_pki.Pki
) -> None:
    port, handler = kubelet
    error = refusal(port, other_pki.ca_cert)
    assert error.outcome == "tls"
    assert str(other_pki.ca_cert) in str(error)
    assert "certificate verify failed" in str(error)
    assert handler.seen == []  # the token never left the operator


def test_the_insecure_opt_out_skips_verification(
    kubelet: tuple[int, type[FakeKubelet]], other_pki: dev_pki.Pki
) -> None:
    port, _ = kubelet
    tls = KubeletSettings(ca_file=str(other_pki.ca_cert), insecure_tls=True)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):  # once per process in use
        assert client(tls).summary("127.0.0.1", port) == SUMMARY


def test_a_refusal_is_forbidden_and_carries_no_body(
    forbidding_kubelet: tuple[int, type[FakeKubelet]], cluster_pki: dev_pki.Pki
) -> None:
    port, _ = forbidding_kubelet
    error = refusal(port, cluster_pki.ca_cert)
    assert error.outcome == "forbidden"
    assert "HTTP 403" in str(error) and "secret" not in str(error)


def test_a_silent_kubelet_times_out_within_the_bound() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers the handshake
    try:
        started = time.monotonic()
        with pytest.raises(KubeletError) as raised:
            client(KubeletSettings(), Timeouts(0.5, 0.5)).summary(
                "127.0.0.1", listener.getsockname()[1]
            )
        assert raised.value.outcome == "timeout"
        assert time.monotonic() - started < 3
    finally:
        listener.close()


class TricklingKubelet(FakeKubelet):
    """Sends its status line and headers a byte every 0.2 s: each byte well within the read
    timeout, the whole far beyond the deadline."""

    def do_GET(self) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 100 + b"\r\n"
        with contextlib.suppress(OSError):  # the client cut the connection: what is tested
            for index in range(len(head)):
                self.wfile.write(head[index : index + 1])
                self.wfile.flush()
                time.sleep(0.2)


def test_a_kubelet_trickling_its_headers_is_cut_at_the_deadline(cluster_pki: dev_pki.Pki) -> None:
    server = QuietTLSServer(("127.0.0.1", 0), TricklingKubelet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cluster_pki.cert("serving"), cluster_pki.key("serving"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(KubeletError) as raised:
            client(KubeletSettings(ca_file=str(cluster_pki.ca_cert)), Timeouts(1, 1)).summary(
                "127.0.0.1", server.server_address[1]
            )
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.outcome == "timeout"
    assert "did not finish its answer within 1 s" in str(raised.value)
    assert elapsed < 1.5  # the whole exchange's deadline, not a read timeout per byte


def test_nothing_listening_is_an_error_naming_the_endpoint() -> None:
    free = free_port()
    with pytest.raises(KubeletError) as raised:
        client(KubeletSettings()).summary("127.0.0.1", free)
    assert raised.value.outcome == "error"
    assert f"https://127.0.0.1:{free}/stats/summary" in str(raised.value)
