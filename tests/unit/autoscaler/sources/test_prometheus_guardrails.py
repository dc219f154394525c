"""The admin's limits on every PrometheusServer (issue #18), against hostile servers on
127.0.0.1 (``tests/e2e/prometheus_fault_proxy``): bytes, total time, series, slots per
server, no quoted body, redaction in every encoding, https with credentials, the allowlist."""

from __future__ import annotations

import asyncio
import base64
import gzip
import threading
import time
import tracemalloc
from collections.abc import Mapping
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
from tests.e2e.prometheus_fault_proxy import (
    LEAKED_TEXT,
    OPERATOR_REASONS,
    Mode,
    fault_proxy,
    vector,
)
from tests.local_http import serving

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus import PrometheusQuery, PrometheusSource
from podpilot.autoscaler.sources.prometheus_connection import (
    REDACTED,
    Connection,
    ConnectionSettings,
    Credentials,
    redact,
)
from podpilot.autoscaler.sources.prometheus_guardrails import (
    credentials_over_plain_http,
    url_allowed,
)
from podpilot.autoscaler.sources.prometheus_servers import admit_server, parse_server_spec
from podpilot.autoscaler.sources.promql_result import ResultError
from podpilot.settings import MIB, PrometheusLimits

USER, PASSWORD, TOKEN = "tenant-admin", "p@ss word/42", "tok-e2e-6d1f"


class Servers:
    """A resolver over fixed connections by server name."""

    def __init__(self, connections: Mapping[str, Connection]) -> None:
        self._connections = connections

    async def connection(self, namespace: str, name: str) -> Connection:
        return self._connections[name]

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


def connect(
    url: str, timeout: float = 2.0, credentials: Credentials | None = None, **limits: int
) -> Connection:
    return Connection(ConnectionSettings(url, timeout, **limits), credentials or Credentials())


def failure_of(
    url: str, credentials: Credentials | None = None, **limits: int
) -> MetricSourceError:
    """The source's error for one query to ``url``."""
    source = PrometheusSource(
        None, resolver=Servers({"main": connect(url, 1.0, credentials, **limits)})
    )  # type: ignore[arg-type]
    try:
        with pytest.raises(MetricSourceError) as raised:
            asyncio.run(source.read(PrometheusQuery("ns", "main", "sum(up)")))
        return raised.value
    finally:
        source.close()


def refusal_and_peak(url: str) -> tuple[ResultError, int]:
    """How a query to ``url`` with a 1 MiB limit fails, and the peak memory it took."""
    connection = connect(url, max_response_bytes=MIB)
    tracemalloc.start()
    try:
        with pytest.raises(ResultError) as raised:
            connection.query("sum(up)")
        return raised.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        connection.close()


def test_a_large_answer_is_refused_while_read_without_holding_it() -> None:
    with fault_proxy(None, large_bytes=20 * MIB) as proxy:
        proxy.set_mode(Mode.LARGE)
        error, peak = refusal_and_peak(proxy.url)
    assert error.kind == "response_too_large" and "1 MiB" in str(error)
    assert peak < 3 * MIB


class GzipBomb(BaseHTTPRequestHandler):
    body = gzip.compress(b"[" + b"0," * (50 * MIB) + b"0]", compresslevel=9)  # about 100 KB

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        with suppress(OSError):
            self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_limit_counts_decompressed_bytes() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GzipBomb)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    try:
        error, peak = refusal_and_peak(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert error.kind == "response_too_large"
    assert peak < 3 * MIB


def test_a_redirect_is_not_followed() -> None:
    with serving({}, default=(200, vector("1"))) as elsewhere:

        class Redirect(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", f"{elsewhere}/api/v1/query?query=up")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        try:
            error = failure_of(f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            server.server_close()
    assert error.kind == "http_error" and "HTTP 302" in str(error)


def test_a_declared_length_beyond_the_limit_is_refused_before_reading() -> None:
    with serving({}, default=(200, vector("1", series=400))) as url:
        connection = connect(url, max_response_bytes=1000)
        with pytest.raises(ResultError) as raised:
            connection.query("sum(up)")
        connection.close()
    assert raised.value.kind == "response_too_large"


def test_a_trickling_server_cannot_extend_the_query_past_its_timeout() -> None:
    with fault_proxy(None, trickle_interval=0.2) as proxy:
        proxy.set_mode(Mode.TRICKLE)
        connection = connect(proxy.url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            connection.query("sum(up)")  # each byte comes well within the per-read timeout
        elapsed = time.monotonic() - started
        connection.close()
    assert 0.9 < elapsed < 1.6


def test_more_series_than_the_limit_are_refused() -> None:
    with serving({}, default=(200, vector("1", series=11))) as url:
        error = failure_of(url, max_series=10)
    assert error.kind == "too_many_series" and "limit of 10" in str(error)


def latency_beside_stuck_queries(
    slow_servers: list[str],
    stuck: list[PrometheusQuery],
    limits: PrometheusLimits,
    workers: int,
    in_flight_when_stuck: int,
) -> float:
    """The time a query to a healthy server of namespace ``other`` takes while ``stuck``
    queries wait on trickling ``slow_servers``; those end as timeouts."""
    with (
        fault_proxy(None, trickle_interval=0.2) as bad,
        serving({}, default=(200, vector("3"))) as good,
    ):
        bad.set_mode(Mode.TRICKLE)
        slow = {name: connect(bad.url, 2.0) for name in slow_servers}
        servers = Servers({**slow, "good": connect(good, 2.0)})
        source = PrometheusSource(None, max_concurrent=workers, resolver=servers, limits=limits)  # type: ignore[arg-type]

        async def scenario() -> float:
            waiting = [asyncio.create_task(source.read(query)) for query in stuck]
            await asyncio.sleep(0.2)
            assert source.requests_made == in_flight_when_stuck
            started = time.monotonic()
            reading = await source.read(PrometheusQuery("other", "good", "sum(up)"))
            latency = time.monotonic() - started
            assert reading.milli == 3000
            results = await asyncio.gather(*waiting, return_exceptions=True)
            assert all(isinstance(r, MetricSourceError) and r.kind == "timeout" for r in results)
            return latency

        try:
            return asyncio.run(scenario())
        finally:
            source.close()


def test_a_trickling_server_takes_only_its_own_slots() -> None:
    """Four queries to a trickling server and one to a healthy one, with four workers: the
    trickling server holds two, and the healthy one answers at once."""
    stuck = [PrometheusQuery("a", "bad", f"q{i}") for i in range(4)]
    limits = PrometheusLimits(per_server_concurrency=2)
    assert latency_beside_stuck_queries(["bad"], stuck, limits, 4, 2) < 0.5


def test_a_tenant_with_many_trickling_servers_takes_only_its_namespaces_slots() -> None:
    """Four trickling servers of one namespace, two queries each, and eight workers: the
    namespace holds four of them, and another namespace's server answers at once."""
    slow = [f"slow-{i}" for i in range(4)]
    stuck = [PrometheusQuery("greedy", name, f"q{i}") for name in slow for i in range(2)]
    limits = PrometheusLimits(per_server_concurrency=2, per_namespace_concurrency=4)
    assert latency_beside_stuck_queries(slow, stuck, limits, 8, 4) < 0.5


@pytest.mark.parametrize(("mode", "kind", "words"), OPERATOR_REASONS)
def test_a_failure_names_its_kind_and_quotes_nothing_the_server_sent(
    mode: Mode, kind: str, words: str
) -> None:
    """Every mode of the e2e fault proxy, with the words the F4 e2e test waits for."""
    credentials = Credentials(username=USER, password=PASSWORD)
    with fault_proxy(None) as proxy:
        proxy.set_mode(mode)
        started = time.monotonic()
        error = failure_of(proxy.url, credentials)
        elapsed = time.monotonic() - started
    text = str(error)
    assert error.kind == kind and f"Prometheus server ns/main: {kind}: " in text and words in text
    assert LEAKED_TEXT not in text and "10.0.0.7" not in text and "html" not in text
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text
    assert elapsed < 2.5  # the query's 1 s, its slot and setup; never the server's pace


def test_a_server_that_is_down_is_unreachable_and_comes_back() -> None:
    with fault_proxy(None) as proxy:
        proxy.set_mode(Mode.DOWN)
        assert failure_of(proxy.url).kind == "unreachable"
        proxy.set_mode(Mode.PASS)
        connection = connect(proxy.url)
        assert connection.query("up") == [{"metric": {"series": "0"}, "value": [1.0, "1"]}]
        connection.close()


def test_redaction_covers_every_encoding_of_the_credentials() -> None:
    secrets = Credentials(username=USER, password=PASSWORD, bearer_token=TOKEN + "\n")
    pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    forms = [
        PASSWORD,
        pair,
        quote(PASSWORD, safe=""),
        "p%40ss+word%2F42",
        base64.b64encode(PASSWORD.encode()).decode(),
        f"Bearer {TOKEN}",
        base64.b64encode(TOKEN.encode()).decode(),
    ]
    text = redact(" | ".join(f"Basic {form}" for form in forms), secrets.secret_values())
    assert USER not in text and "ss word" not in text and "ss%20word" not in text
    assert TOKEN not in text and pair not in text
    assert text.count(REDACTED) >= len(forms)


@pytest.mark.parametrize(
    ("url", "allowed", "admitted"),
    [
        ("http://anything:9090", (), True),
        ("https://prom.monitoring.svc:9090/", ("https://prom.monitoring.svc:9090",), True),
        ("https://prom.monitoring.svc:9090/sub/x", ("https://prom.monitoring.svc:9090/sub/",),
         True),
        ("https://prom.monitoring.svc:9090/subway", ("https://prom.monitoring.svc:9090/sub",),
         False),
        ("http://prom.monitoring.svc:9090", ("https://prom.monitoring.svc:9090",), False),
        ("https://prom.monitoring.svc:9091", ("https://prom.monitoring.svc:9090",), False),
        ("https://prom.monitoring.svc.evil.io", ("https://prom.monitoring.svc",), False),
        ("https://prom.monitoring.svc@evil.io", ("https://prom.monitoring.svc",), False),
        ("https://x@prom.monitoring.svc", ("prom.monitoring.svc",), False),
        ("http://PROM.monitoring.svc:1234/a", ("prom.monitoring.svc",), True),
        ("http://169.254.169.254/latest", ("prom.monitoring.svc",), False),
    ],
)  # fmt: skip
def test_the_allowlist_compares_parsed_urls(
    url: str, allowed: tuple[str, ...], admitted: bool
) -> None:
    assert url_allowed(url, allowed) is admitted


def test_credentials_need_https_unless_plain_http_is_allowed() -> None:
    assert credentials_over_plain_http("http://prom:9090", True, False)
    assert not credentials_over_plain_http("http://prom:9090", True, True)
    assert not credentials_over_plain_http("https://prom:9090", True, False)
    assert not credentials_over_plain_http("http://prom:9090", False, False)


@pytest.mark.parametrize(
    ("spec", "limits", "kind"),
    [
        ({"url": "http://elsewhere:9090"}, PrometheusLimits(allowed_urls=("prom",)), "url_refused"),
        (
            {"url": "http://prom:9090", "auth": {"bearerTokenSecretRef": {"name": "t"}}},
            PrometheusLimits(),
            "insecure_transport",
        ),
        (
            {"url": "http://prom:9090", "auth": {"basicAuthSecretRef": {"name": "b"}}},
            PrometheusLimits(),
            "insecure_transport",
        ),
    ],
)
def test_a_server_outside_the_limits_is_refused_naming_why(
    spec: dict[str, object], limits: PrometheusLimits, kind: str
) -> None:
    with pytest.raises(MetricSourceError) as raised:
        admit_server("Prometheus server ns/main", parse_server_spec(spec), limits)
    assert raised.value.kind == kind and f": {kind}: " in str(raised.value)


def test_plain_http_with_credentials_is_admitted_when_the_server_allows_it() -> None:
    spec = {
        "url": "http://prom:9090",
        "allowInsecureHttp": True,
        "auth": {"bearerTokenSecretRef": {"name": "t"}},
    }
    admit_server("Prometheus server ns/main", parse_server_spec(spec), PrometheusLimits())
