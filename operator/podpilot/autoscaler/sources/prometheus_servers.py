"""``PrometheusServer`` objects: parsed from the API, their Secrets read, connections kept.

A server is a namespaced ``PrometheusServer`` (``podpilot.io/v1alpha1``) in the Autoscaler's
namespace; its Secrets are read from that same namespace, so a tenant can only point its
Autoscalers at servers and credentials it owns. Resolved servers are kept for ``ttl`` seconds
(edits and rotated Secrets take effect within that time) and a connection is rebuilt only
when its settings or credentials changed.

The admin's ``PrometheusLimits`` apply before any request: a URL outside ``allowed_urls`` is
refused (``url_refused``), and so are credentials over plain http unless the server sets
``allowInsecureHttp`` (``insecure_transport``); the server's timeout is capped at
``max_query_seconds``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import kubernetes

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus_connection import (
    Connection,
    ConnectionSettings,
    Credentials,
)
from podpilot.autoscaler.sources.prometheus_guardrails import (
    credentials_over_plain_http,
    url_allowed,
)
from podpilot.kube.clients import TRANSPORT_ERRORS, ApiClients, failure_kind, no_answer
from podpilot.kube.single_flight import SingleFlight
from podpilot.settings import DEFAULT_PROMETHEUS_LIMITS, PrometheusLimits

PLURAL = "prometheusservers"
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class SecretKey:
    """One key of one Secret in the server's namespace."""

    name: str
    key: str


@dataclass(frozen=True)
class ServerSpec:
    """A ``PrometheusServer``'s spec in typed form (references only, never values)."""

    url: str
    timeout: float = DEFAULT_TIMEOUT
    insecure_skip_verify: bool = False
    allow_insecure_http: bool = False
    ca: SecretKey | None = None
    client_cert: SecretKey | None = None
    client_key: SecretKey | None = None
    bearer_token: SecretKey | None = None
    username: SecretKey | None = None
    password: SecretKey | None = None

    def secret_keys(self) -> dict[str, SecretKey]:
        named = {
            "ca_pem": self.ca,
            "client_cert_pem": self.client_cert,
            "client_key_pem": self.client_key,
            "bearer_token": self.bearer_token,
            "username": self.username,
            "password": self.password,
        }
        return {field: ref for field, ref in named.items() if ref is not None}

    def sends_credentials(self) -> bool:
        """A header with a secret goes with each request (client keys stay in TLS)."""
        return any(ref is not None for ref in (self.bearer_token, self.username, self.password))


def _ref(raw: Mapping[str, Any] | None, key_field: str, default_key: str) -> SecretKey | None:
    if not raw or not raw.get("name"):
        return None
    return SecretKey(str(raw["name"]), str(raw.get(key_field) or default_key))


def parse_server_spec(raw: Mapping[str, Any]) -> ServerSpec:
    """``PrometheusServer.spec``; the CRD schema has already validated it."""
    tls: Mapping[str, Any] = raw.get("tls") or {}
    auth: Mapping[str, Any] = raw.get("auth") or {}
    client: Mapping[str, Any] | None = tls.get("clientCertSecretRef")
    basic: Mapping[str, Any] | None = auth.get("basicAuthSecretRef")
    return ServerSpec(
        url=str(raw.get("url", "")),
        timeout=float(raw.get("timeoutSeconds", DEFAULT_TIMEOUT)),
        insecure_skip_verify=bool(tls.get("insecureSkipVerify", False)),
        allow_insecure_http=bool(raw.get("allowInsecureHttp", False)),
        ca=_ref(tls.get("caSecretRef"), "key", "ca.crt"),
        client_cert=_ref(client, "certKey", "tls.crt"),
        client_key=_ref(client, "keyKey", "tls.key"),
        bearer_token=_ref(auth.get("bearerTokenSecretRef"), "key", "token"),
        username=_ref(basic, "usernameKey", "username"),
        password=_ref(basic, "passwordKey", "password"),
    )


def secret_value(data: Mapping[str, Any] | None, ref: SecretKey) -> str:
    """Decode one key of a Secret's ``data``; the error names the key, never the value."""
    if not data or ref.key not in data:
        raise KeyError(f"Secret {ref.name} has no key {ref.key}")
    try:
        return base64.b64decode(data[ref.key], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise KeyError(f"Secret {ref.name} key {ref.key} is not base64-encoded text") from error


def admit_server(api: str, spec: ServerSpec, limits: PrometheusLimits) -> None:
    """Refuse a server the admin's limits do not admit, before reading its Secrets."""
    if not url_allowed(spec.url, limits.allowed_urls):
        raise server_failure(
            api,
            "url_refused",
            "spec.url is outside the URLs this operator may query "
            "(--prometheus-allowed-url); ask the cluster admin to allow it",
        )
    if credentials_over_plain_http(spec.url, spec.sends_credentials(), spec.allow_insecure_http):
        raise server_failure(
            api,
            "insecure_transport",
            "credentials are only sent over https; use an https:// URL or set "
            "spec.allowInsecureHttp: true",
        )


ServerKey = tuple[str, str]  # namespace, name
ServerSettings = tuple[ConnectionSettings, Credentials]


@dataclass
class _Entry:
    read: ServerSettings  # the read the connection was made from
    fingerprint: str
    connection: Connection


def server_api(namespace: str, name: str) -> str:
    """How errors name a server (``unable to fetch metrics from Prometheus server ns/name``)."""
    return f"Prometheus server {namespace}/{name}"


def server_failure(api: str, kind: str, message: str) -> MetricSourceError:
    """A failure whose message starts with its kind, so that conditions and Events name it."""
    return MetricSourceError(api, f"{kind}: {message}", kind)


class ServerResolver:
    """Finds a ``PrometheusServer`` and its Secrets and keeps one connection per server."""

    def __init__(
        self,
        clients: ApiClients,
        ttl: float = 10.0,
        limits: PrometheusLimits = DEFAULT_PROMETHEUS_LIMITS,
    ) -> None:
        self._clients = clients
        self._limits = limits
        self._entries: dict[ServerKey, _Entry] = {}
        # One read of a server's object and Secrets at a time, shared while fresh: Autoscalers
        # that use one server wait for the same read, and share its failure.
        self._reads: SingleFlight[ServerKey, ServerSettings] = SingleFlight(self._fetch, ttl)

    async def connection(self, namespace: str, name: str) -> Connection:
        """The server's connection, made again only when its settings or credentials changed."""
        key = (namespace, name)
        read = await self._reads.read(key)
        entry = self._entries.get(key)
        if entry is not None and entry.read is read:
            return entry.connection
        settings, credentials = read
        fingerprint = f"{settings!r}/{credentials.fingerprint()}"
        if entry is not None and entry.fingerprint == fingerprint:
            entry.read = read
            return entry.connection
        if entry is not None:
            entry.connection.close()
        connection = Connection(settings, credentials)
        self._entries[key] = _Entry(read, fingerprint, connection)
        return connection

    async def _fetch(self, key: ServerKey) -> ServerSettings:
        namespace, name = key
        try:
            return await self._clients.call(self._read, namespace, name)
        except TRANSPORT_ERRORS as error:
            clients = self._clients
            raise server_failure(
                server_api(namespace, name),
                failure_kind(error),
                f"reading PrometheusServer {name} and its Secrets: "
                f"{no_answer(error, clients.server, clients.timeouts)}",
            ) from None

    def _read(self, namespace: str, name: str) -> ServerSettings:
        api = server_api(namespace, name)
        custom = kubernetes.client.CustomObjectsApi(self._clients.kubernetes)
        try:
            body = cast(
                Mapping[str, Any],
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise server_failure(
                    api, "not_found", f"PrometheusServer {name} not found in namespace {namespace}"
                ) from None
            raise server_failure(
                api, "not_found", f"reading PrometheusServer {name}: HTTP {error.status}"
            ) from None
        spec = parse_server_spec(body.get("spec") or {})
        admit_server(api, spec, self._limits)
        core = kubernetes.client.CoreV1Api(self._clients.kubernetes)
        secrets: dict[str, Mapping[str, Any] | None] = {}
        values: dict[str, str] = {}
        for field_name, ref in spec.secret_keys().items():
            if ref.name not in secrets:
                try:
                    secret = core.read_namespaced_secret(ref.name, namespace)
                except kubernetes.client.ApiException as error:
                    reason = "not found" if error.status == 404 else f"HTTP {error.status}"
                    raise server_failure(
                        api, "credentials", f"reading Secret {ref.name}: {reason}"
                    ) from None
                secrets[ref.name] = secret.data
            try:
                values[field_name] = secret_value(secrets[ref.name], ref)
            except KeyError as error:
                raise server_failure(api, "credentials", str(error.args[0])) from None
        limits = self._limits
        settings = ConnectionSettings(
            spec.url,
            min(spec.timeout, limits.max_query_seconds),
            spec.insecure_skip_verify,
            max_response_bytes=limits.max_response_bytes,
            max_series=limits.max_series,
        )
        return settings, Credentials(**values)

    def close(self) -> None:
        for entry in self._entries.values():
            entry.connection.close()
        self._entries.clear()


__all__ = [
    "SecretKey",
    "ServerResolver",
    "ServerSpec",
    "admit_server",
    "parse_server_spec",
    "secret_value",
    "server_api",
    "server_failure",
]
