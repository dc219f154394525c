"""One Prometheus server's connection: credentials in, a ``PrometheusConnect`` client out.

Credential values live only in this module's objects, in the client's session, and (for TLS
files, which ``requests`` can only take as paths) in a private temporary directory that is
removed when the connection is closed. ``Credentials`` never prints its values, and
``redact`` scrubs them from any text before it reaches a log, a status or an Event.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from podpilot.autoscaler.sources.promql_result import instant_query_result

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
        """Values that must never appear in text shown to anyone (the CA is public)."""
        values = (self.client_key_pem, self.bearer_token, self.password, self.username)
        return tuple(value for value in values if value)

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
    timeout: float
    insecure_skip_verify: bool = False


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
        # No retries inside the client: the Autoscaler's own backoff decides when to try again,
        # and the library's default (3 retries, 1 s backoff) would hold a worker for seconds.
        self.client: Any = PrometheusConnect(
            url=settings.url.rstrip("/"),
            headers=headers,
            auth=auth,
            session=session,
            retry=Retry(total=0, raise_on_status=False),
            timeout=settings.timeout,
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
        failed or partial answer (``promql_result.instant_query_result`` checks them).
        """
        response = self._session.get(
            f"{self.client.url}/api/v1/query",
            params={"query": promql},
            headers=self._headers,
            auth=self._auth,
            timeout=self.settings.timeout,
        )
        if response.status_code != 200:
            # Worded as the client words it, which ``prometheus.classify`` reads.
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.content[:500]!r})"
            )
        return instant_query_result(response.json())

    def close(self) -> None:
        self.client.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


__all__ = ["REDACTED", "Connection", "ConnectionSettings", "Credentials", "redact"]
