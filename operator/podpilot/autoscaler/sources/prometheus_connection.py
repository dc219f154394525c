"""One Prometheus server's connection: credentials in, a ``PrometheusConnect`` client out.

Credential values live only in this module's objects, in the client's session, and (for TLS
files, which ``requests`` can only take as paths) in a private temporary directory that is
removed when the connection is closed. ``Credentials`` never prints its values, and
``redact`` scrubs them, in every encoding they travel in, from any text before it reaches a
log, a status or an Event.

An answer is read under the admin's limits (``settings.PrometheusLimits``): never more than
``max_response_bytes`` held, never longer than ``timeout`` in total from connecting to the last
byte (``http_deadline``'s watchdog shuts the socket of a server that trickles, headers or
body), and never more than ``max_series`` series. Its body is never quoted: failures are fixed
reasons of a named kind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from podpilot.autoscaler.sources.promql_result import ResultError, instant_query_result
from podpilot.kube.http_deadline import DeadlineAdapter, streamed_get
from podpilot.settings import MIB, PrometheusLimits

REDACTED = "<redacted>"


@dataclass(frozen=True)
class Credentials:
    """What the server's Secrets hold; every value is hidden from ``repr``."""

    ca_pem: str = field(default="", repr=False)
    client_cert_pem: str = field(default="", repr=False)
    client_key_pem: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    def secret_values(self) -> tuple[str, ...]:
        """Values that must never appear in text shown to anyone (the CA is public), each as
        held and as it may come back: base64 (a basic-auth header, or the value alone),
        URL-encoded, JSON-escaped, and the bearer header."""
        raw = [self.client_key_pem, self.bearer_token.strip(), self.password, self.username]
        values = [value for value in raw if value]
        forms = set(values)
        if self.username or self.password:
            pair = f"{self.username}:{self.password}".encode()
            forms.add(base64.b64encode(pair).decode())
        for value in values:
            forms.add(base64.b64encode(value.encode()).decode())
            forms.update((quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]))
        if self.bearer_token.strip():
            forms.add(f"Bearer {self.bearer_token.strip()}")
        return tuple(sorted((form for form in forms if form), key=len, reverse=True))

    def fingerprint(self) -> str:
        """A digest that changes when any credential changes (to rebuild the client)."""
        digest = hashlib.sha256()
        for value in (
            self.ca_pem,
            self.client_cert_pem,
            self.client_key_pem,
            self.bearer_token,
            self.username,
            self.password,
        ):
            digest.update(value.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value hidden (also its whitespace-trimmed form)."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, REDACTED)
        stripped = value.strip()
        if stripped and stripped != value:
            text = text.replace(stripped, REDACTED)
    return text


@dataclass(frozen=True)
class ConnectionSettings:
    url: str
    timeout: float  # the whole query, from connecting to the last byte of the answer
    insecure_skip_verify: bool = False
    max_response_bytes: int = PrometheusLimits.max_response_bytes
    max_series: int = PrometheusLimits.max_series


READ_CHUNK = 64 * 1024


def prometheus_client(url: str, session: requests.Session, timeout: float, **options: Any) -> Any:
    """A ``PrometheusConnect`` over ``session`` that never retries (the caller's own backoff
    decides when to try again; the library's default, 3 retries with a 1 s backoff, would hold
    a worker for seconds), its requests made through a ``DeadlineAdapter``: the library mounts
    an adapter of its own at the URL, which this one replaces."""
    client = PrometheusConnect(
        url=url.rstrip("/"),
        session=session,
        retry=Retry(total=0, raise_on_status=False),
        timeout=timeout,
        **options,
    )
    session.mount(client.url, DeadlineAdapter())
    return client


def read_bounded(response: requests.Response, limit: int) -> bytes:
    """The decoded body, refused as soon as it passes ``limit`` bytes (time is the caller's
    ``streamed_get`` deadline)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResultError("response_too_large", _too_large(limit))
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ResultError("response_too_large", _too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"the answer is larger than the limit of {limit / MIB:g} MiB"


class Connection:
    """A ready client for one server; ``close`` releases the session and the TLS files."""

    def __init__(self, settings: ConnectionSettings, credentials: Credentials) -> None:
        self.settings = settings
        self.secrets = credentials.secret_values()
        self._directory: Path | None = None
        session = requests.Session()
        session.verify = not settings.insecure_skip_verify
        if credentials.ca_pem and not settings.insecure_skip_verify:
            session.verify = str(self._write("ca.pem", credentials.ca_pem))
        if credentials.client_cert_pem and credentials.client_key_pem:
            session.cert = (
                str(self._write("client.crt", credentials.client_cert_pem)),
                str(self._write("client.key", credentials.client_key_pem)),
            )
        headers: dict[str, str] | None = None
        if credentials.bearer_token:
            headers = {"Authorization": f"Bearer {credentials.bearer_token.strip()}"}
        auth: tuple[str, str] | None = None
        if credentials.username or credentials.password:
            auth = (credentials.username, credentials.password)
        self._session, self._headers, self._auth = session, headers, auth
        self.client: Any = prometheus_client(
            settings.url, session, settings.timeout, headers=headers, auth=auth
        )

    def _write(self, name: str, content: str) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="podpilot-prometheus-"))
        path = self._directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        return path

    def query(self, promql: str) -> Any:
        """Run an instant query (blocking); returns ``data.result``.

        Made through the client's session rather than ``custom_query``, which returns
        ``data.result`` alone and so drops the ``status`` and ``warnings`` that mark a
        failed or partial answer (``promql_result.instant_query_result`` checks them), and
        which reads the whole answer into memory before anything can refuse it.
        """
        settings = self.settings
        with streamed_get(
            self._session,
            f"{self.client.url}/api/v1/query",
            settings.timeout,
            params={"query": promql},
            headers=self._headers,
            auth=self._auth,
        ) as response:
            if response.status_code in (401, 403):
                raise ResultError(
                    "unauthorized",
                    f"the server refused the credentials (HTTP {response.status_code})",
                )
            if response.status_code != 200:
                raise ResultError("http_error", f"the server answered HTTP {response.status_code}")
            body = read_bounded(response, settings.max_response_bytes)
        try:
            document = json.loads(body)
        except ValueError:  # also a body that is not UTF-8
            raise ResultError("bad_response", "the answer is not JSON") from None
        result = instant_query_result(document)
        if isinstance(result, list) and len(result) > settings.max_series:
            raise ResultError(
                "too_many_series",
                f"the query returned {len(result)} series, more than the limit of "
                f"{settings.max_series}",
            )
        return result

    def close(self) -> None:
        self.client.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


__all__ = [
    "REDACTED",
    "Connection",
    "ConnectionSettings",
    "Credentials",
    "prometheus_client",
    "read_bounded",
    "redact",
]
