"""Every API call is bounded: against a real server on 127.0.0.1 that accepts connections and
never answers, calls through ``ApiClients`` fail within their timeouts, with one clear reason."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from tests.unit.conftest import write_kubeconfig

from podpilot.kube.clients import (
    LONGEST_RETRY_AFTER,
    ApiClients,
    Timeouts,
    connect,
    keepalive_socket_options,
)
from podpilot.kube.discovery import Discovery, DiscoveryError, ResourceInfo
from podpilot.kube.scale import ScaleClient, ScaleError

SHORT = Timeouts(connect=0.5, read=0.5)
# The read timeout, plus room for a slow test machine; far below what an unbounded call takes.
LIMIT = 2.5


@pytest.fixture
def clients(silent_kubeconfig: tuple[Path, str]) -> Iterator[ApiClients]:
    path, _ = silent_kubeconfig
    built = connect(str(path), max_concurrent_calls=2, timeouts=SHORT)
    try:
        yield built
    finally:
        built.close()


class KnownDeployments:
    """Discovery already answered: apps/v1 Deployment is ``deployments``, with ``/scale``."""

    async def resource_for_kind(self, api_version: str, kind: str) -> ResourceInfo:
        return ResourceInfo("apps", "v1", "deployments", namespaced=True, scalable=True)


def scale_client(clients: ApiClients) -> ScaleClient:
    return ScaleClient(clients, cast(Discovery, KnownDeployments()))


def timed(awaitable: Any) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        asyncio.run(awaitable)
    except Exception as error:
        return error, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_scale_read_fails_within_the_read_timeout_and_is_sent_once(
    clients: ApiClients, silent_kubeconfig: tuple[Path, str], silent_server: Any
) -> None:
    """GET /scale names no timeout of its own: the clients' default bounds it, and a read
    that timed out is not sent again (urllib3 would resend a GET three times)."""
    _, url = silent_kubeconfig
    error, seconds = timed(scale_client(clients).get("ns", "apps/v1", "Deployment", "web"))
    assert isinstance(error, ScaleError)
    assert error.reason == "FailedGetScale"
    assert f"the API server at {url} did not answer within 0.5 s" in str(error)
    assert seconds < LIMIT
    assert len(silent_server.accepted) == 1


def test_a_scale_patch_fails_within_the_read_timeout(
    clients: ApiClients, silent_kubeconfig: tuple[Path, str]
) -> None:
    _, url = silent_kubeconfig
    call = scale_client(clients).set_replicas("ns", "apps/v1", "Deployment", "web", 3, "")
    error, seconds = timed(call)
    assert isinstance(error, ScaleError)
    assert error.reason == "FailedRescale"
    assert str(error) == f"New size: 3; error: the API server at {url} did not answer within 0.5 s"
    assert seconds < LIMIT


def test_discovery_through_pykube_fails_within_the_read_timeout(
    clients: ApiClients, silent_kubeconfig: tuple[Path, str]
) -> None:
    _, url = silent_kubeconfig
    error, seconds = timed(Discovery(clients).served_versions("metrics.k8s.io"))
    assert isinstance(error, DiscoveryError)
    assert str(error) == (
        f"discovery of /apis/metrics.k8s.io failed: the API server at {url} did not answer "
        "within 0.5 s"
    )
    assert seconds < LIMIT


def test_a_call_that_names_its_own_timeout_keeps_it(clients: ApiClients) -> None:
    """The default fills in only what a call leaves out: a watch waits longer than a read.
    (Over TLS the unanswered handshake is bounded by the connect timeout, so both are set.)"""
    import kubernetes

    core = kubernetes.client.CoreV1Api(clients.kubernetes)
    started = time.monotonic()
    with pytest.raises(Exception, match=r"read timeout=1\.2"):
        core.list_namespace(_request_timeout=(1.2, 1.2))
    assert 1.1 < time.monotonic() - started < 1.2 + LIMIT


def test_both_clients_keep_their_connections_alive(clients: ApiClients) -> None:
    keepalive = (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    official = clients.kubernetes.rest_client.pool_manager.connection_pool_kw["socket_options"]
    pykube = clients.pykube.session.get_adapter("https://x").poolmanager.connection_pool_kw
    assert keepalive in official
    assert keepalive in pykube["socket_options"]
    assert official == pykube["socket_options"] == keepalive_socket_options()
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30) in official


def test_timeouts_from_a_read_setting_never_connect_longer_than_they_read() -> None:
    assert Timeouts.reading(30.0).pair() == (5.0, 30.0)
    assert Timeouts.reading(0.5).pair() == (0.5, 0.5)


def test_a_stop_waits_for_the_writes_sent_and_drops_those_not_sent(clients: ApiClients) -> None:
    """What a replica sent lands before its Leases go back (else it could land over the next
    holder's); what had not started is never sent; a call that never ends holds the stop for
    one call's timeout at most."""
    landed: list[str] = []

    def write(name: str, seconds: float) -> None:
        time.sleep(seconds)
        landed.append(name)

    async def stopping() -> float:
        sent = [asyncio.ensure_future(clients.write_status(write, "sent", 0.3))]
        sent += [asyncio.ensure_future(clients.call(write, f"read-{n}", 0.3)) for n in (1, 2)]
        queued = asyncio.ensure_future(clients.call(write, "queued", 0.0))  # 2 threads busy
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await clients.drain()
        waited = time.monotonic() - started
        await asyncio.gather(*sent, queued, return_exceptions=True)
        assert queued.cancelled()
        return waited

    waited = asyncio.run(stopping())
    assert sorted(landed) == ["read-1", "read-2", "sent"]
    assert 0.15 < waited < LIMIT


def test_a_stop_gives_up_on_a_call_that_outlasts_its_timeout(clients: ApiClients) -> None:
    release = threading.Event()

    async def stopping() -> float:
        stuck = asyncio.ensure_future(clients.write_status(release.wait, 30))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert not await clients.drain()  # it may yet land: the Leases must not go back
        waited = time.monotonic() - started
        release.set()
        await asyncio.gather(stuck, return_exceptions=True)
        return waited

    waited = asyncio.run(stopping())
    assert SHORT.connect + SHORT.read - 0.1 < waited < SHORT.connect + SHORT.read + LIMIT


class AsksToComeBackInAnHour(BaseHTTPRequestHandler):
    """An apiserver (or an aggregated one) that answers its first request 503 with
    ``Retry-After: 3600``, then the Deployment's scale."""

    answered = 0

    def do_GET(self) -> None:
        type(self).answered += 1
        if type(self).answered == 1:
            body, status, extra = b'{"kind":"Status","code":503}', 503, {"Retry-After": "3600"}
        else:
            body, status, extra = json.dumps(SCALE).encode(), 200, {}
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **extra}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


SCALE = {
    "apiVersion": "autoscaling/v1",
    "kind": "Scale",
    "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
    "spec": {"replicas": 2},
    "status": {"replicas": 2, "selector": "app=web"},
}


def test_a_retry_after_of_an_hour_is_waited_for_at_most_the_longest_retry_after(
    tmp_path: Path,
) -> None:
    """urllib3 would sleep the hour in a pool thread, outside every timeout; the retry comes
    after ``LONGEST_RETRY_AFTER`` and the call succeeds."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Once", (AsksToComeBackInAnHour,), {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    built = connect(str(write_kubeconfig(tmp_path / "kubeconfig", url)), timeouts=SHORT)
    try:
        started = time.monotonic()
        scale = asyncio.run(scale_client(built).get("ns", "apps/v1", "Deployment", "web"))
        seconds = time.monotonic() - started
    finally:
        built.close()
        server.shutdown()
        server.server_close()
    assert scale.spec_replicas == 2
    assert LONGEST_RETRY_AFTER <= seconds < LONGEST_RETRY_AFTER + LIMIT
