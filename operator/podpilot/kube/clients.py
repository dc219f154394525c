"""The two API clients, built once from the same credentials, each with one job.

* ``kubernetes`` (the official client) does every typed call: the ``/scale`` subresource of
  any workload, status patches of podpilot's own resources, CRD installation, the node
  proxy the emptyDir audit reads, and the list-and-watch of pods and Deployments behind the
  Autoscaler's caches (``list_watch.py``).
* ``pykube-ng`` does the generic, read-only calls: API discovery and the aggregated metrics
  APIs (metrics.k8s.io, custom.metrics.k8s.io, external.metrics.k8s.io).

Both are synchronous, so every call runs in a bounded thread pool off the event loop. Status
writes have a small pool of their own: on a loaded apiserver they answer several times slower
than reads, and a burst of them must not hold up the reads (and ``/scale`` patches) of
evaluations.

Every call is bounded (:class:`Timeouts`, set here once for both clients): a call that names no
``_request_timeout`` (``timeout=`` for pykube) gets the default connect and read timeouts, so
an apiserver that accepts the connection and never answers fails the call instead of holding a
pool thread forever. Both clients' sockets have TCP keep-alive on, so a peer that vanished
without a FIN (a node lost, a black-holed route) is noticed on idle pooled connections and
long watches too.

Both clients send the ServiceAccount's token as it is now, not as it was at start-up: kubelet
replaces the projected token (bound tokens live an hour by default) and neither library
re-reads it on its own (pykube reads it once; the official client re-reads the in-cluster file
every minute but a kubeconfig's ``tokenFile`` never). :class:`TokenFile` is the one reader,
used by both clients (and by kopf's session, ``app/lifecycle.py``) on every request.

A kubeconfig user's exec credential plugin (EKS, GKE, OIDC logins from a workstation) is run by
one :class:`~podpilot.kube.exec_credential.ExecCredential` for both clients: with a time limit,
one run at a time, its token kept until it expires or is refused; neither library's own run
(the kubernetes client's without a limit in every thread that finds the token expired,
pykube's on every request) is left to happen.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import kubernetes
import pykube
import requests
import urllib3
import yaml

from podpilot.kube.exec_credential import ExecCredential
from podpilot.kube.exec_plugin import EXEC_PLUGIN_TIMEOUT, ExecPluginError, exec_user, without_exec
from podpilot.kube.http_deadline import guard_pools, within
from podpilot.kube.kubeconfig import (
    DEFAULT_NAMESPACE,
    KubeconfigError,
    NoKubeconfigError,
    merged_kubeconfig,
    with_default_namespace,
)
from podpilot.settings import KubeconfigSelection

T = TypeVar("T")

MAX_CONCURRENT_STATUS_WRITES = 4
# The Autoscaler's pod and Deployment watches each hold a connection while they stream.
WATCH_CONNECTIONS = 2
SERVICE_ACCOUNT_DIRECTORY = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_ACCOUNT_TOKEN = SERVICE_ACCOUNT_DIRECTORY / "token"
TOKEN_REREAD_SECONDS = 60.0
"""The longest a token file is trusted unchanged before it is read again, as client-go's
cached token source does; a replaced file (new inode, mtime or size) is read at once."""

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection to the apiserver (TCP and TLS)."""
READ_TIMEOUT = 30.0
"""Seconds to wait for any part of an answer: kube-apiserver ends a non-watch request after
its own --request-timeout (60 s by default) but answers ordinary reads and writes in well under
a second; kubectl and client-go bound calls the same way."""
KEEPALIVE_IDLE = 30
"""Seconds a connection is idle before the first keep-alive probe (client-go's 30 s)."""
KEEPALIVE_INTERVAL = 10
KEEPALIVE_PROBES = 3
"""Unanswered probes, ``KEEPALIVE_INTERVAL`` apart, after which the kernel drops the connection:
a vanished apiserver is noticed about a minute after the connection went quiet."""


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts, in seconds, of one API call."""

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT

    @classmethod
    def reading(cls, read: float) -> Timeouts:
        """The default connect timeout (never longer than ``read``) with this read timeout."""
        return cls(min(CONNECT_TIMEOUT, read), read)

    def pair(self) -> tuple[float, float]:
        """As both clients take it: ``_request_timeout=`` and requests' ``timeout=``."""
        return self.connect, self.read


def bearer_authorization(configuration: kubernetes.client.Configuration) -> str | None:
    """The ``Authorization`` header of the client's credentials (``Bearer <token>``), as its
    generated methods send it: the configuration's hook refreshes an expiring token on the
    way. None when the credentials are a client certificate alone.

    Raises:
        ExecPluginError: An ``OSError``: the exec plugin gave no valid token in its time.
    """
    token = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    return str(token) if token else None


def bearer_header(configuration: kubernetes.client.Configuration) -> dict[str, str]:
    """The ``Authorization`` header for a request sent straight to a pool (client certificates
    are the pool's own), or none.

    Raises:
        ExecPluginError: As ``bearer_authorization``.
    """
    token = bearer_authorization(configuration)
    return {"Authorization": token} if token else {}


def send_through_pool(
    client: kubernetes.client.ApiClient,
    method: str,
    path: str,
    headers: Mapping[str, str],
    *,
    authorization: Mapping[str, str] | None = None,
    answers_for_the_token: bool = True,
    **options: Any,
) -> urllib3.BaseHTTPResponse:
    """``method path`` (escaped, from ``/api`` on) sent straight through the official client's
    connection pool, for a request its generated methods cannot make: with the client's
    default headers (its User-Agent) and ``authorization`` (by default ``bearer_header``'s).
    A 401 answer is told to the token's source as the client's own calls do, unless
    ``answers_for_the_token`` is False (a proxied answer: the 401 may be another server's).
    ``options`` go to urllib3's ``request``.

    Raises:
        ExecPluginError: As ``bearer_authorization``.
        urllib3.exceptions.HTTPError, OSError: The request failed.
    """
    if authorization is None:
        authorization = bearer_header(client.configuration)
    response = client.rest_client.pool_manager.request(
        method,
        client.configuration.host + path,
        headers={**client.default_headers, **headers, **authorization},
        **options,
    )
    token: BearerToken | None = getattr(client.rest_client, "token", None)
    if answers_for_the_token and token is not None and response.status == 401:
        token.unauthorized(authorization.get("Authorization"))
    return response


def keepalive_socket_options() -> list[tuple[int, int, int]]:
    """urllib3 socket options with TCP keep-alive on, where the platform has the knobs.

    urllib3 replaces its default options with the ones given, so its own (no Nagle delay) are
    kept. macOS names the idle time ``TCP_KEEPALIVE``.
    """
    options = list(urllib3.connection.HTTPConnection.default_socket_options)
    options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    for option, value in (
        (idle, KEEPALIVE_IDLE),
        (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL),
        (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES),
    ):
        if option is not None:
            options.append((socket.IPPROTO_TCP, option, value))
    return options


# The longest wait a ``Retry-After`` header buys before a retry. The API server's priority and
# fairness answers 429 with ``Retry-After: 1``; an aggregated API server or a proxy may ask for
# hours, and urllib3 would sleep that long in a pool thread, outside every timeout.
LONGEST_RETRY_AFTER = 2.0


class NoResendAfterTimeout(urllib3.Retry):
    """urllib3's default retries (a stale pooled connection is reopened), except that a request
    whose answer timed out is not sent again: the apiserver has it and did not answer in time,
    and each resend would add a whole read timeout to the call (urllib3's default resends a
    GET three times: four times the bound). A connect that timed out is tried once more. A
    429, 413 or 503 with ``Retry-After`` is retried after at most ``LONGEST_RETRY_AFTER``."""

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        asked = super().get_retry_after(response)
        return None if asked is None else min(asked, LONGEST_RETRY_AFTER)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: urllib3.BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: urllib3.connectionpool.ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, urllib3.exceptions.ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
)
"""What a call raises when no HTTP answer came: refused, reset, TLS failure, or a timeout."""


def _wraps(
    error: BaseException | None, kinds: tuple[type[BaseException], ...], depth: int = 0
) -> bool:
    """Whether ``error``, or what it wraps, is one of ``kinds``: urllib3 wraps a timeout in
    MaxRetryError or ProtocolError, requests in ConnectionError."""
    if error is None or depth > 5:
        return False
    if isinstance(error, kinds):
        return True
    inner = [getattr(error, "reason", None), error.__cause__, error.__context__, *error.args]
    return any(_wraps(item, kinds, depth + 1) for item in inner if isinstance(item, BaseException))


def timed_out(error: BaseException) -> bool:
    return _wraps(error, (TimeoutError, urllib3.exceptions.TimeoutError, requests.Timeout))


def failure_kind(error: BaseException) -> str:
    """``timeout`` or ``unreachable``: the bounded label of a call that got no answer."""
    return "timeout" if timed_out(error) else "unreachable"


def no_answer(error: BaseException, server: str, timeouts: Timeouts) -> str:
    """One line for a call that got no HTTP answer (one of ``TRANSPORT_ERRORS``)."""
    if isinstance(error, ExecPluginError):  # the call was never sent
        return f"no credentials for the API server at {server}: {error}"
    # urllib3's NewConnectionError (refused, no route) is a ConnectTimeoutError by inheritance.
    refused = _wraps(error, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError))
    if not refused and _wraps(
        error, (urllib3.exceptions.ConnectTimeoutError, requests.ConnectTimeout)
    ):
        return f"the API server at {server} did not accept a connection in {timeouts.connect:g} s"
    if not refused and timed_out(error):
        return f"the API server at {server} did not answer within {timeouts.read:g} s"
    if _wraps(error, (ConnectionRefusedError,)):
        return f"the API server at {server} could not be reached: connection refused"
    reason = getattr(error, "reason", None) or error
    return f"the API server at {server} could not be reached: {reason}"


def api_retries() -> urllib3.Retry:
    return NoResendAfterTimeout(total=3, connect=1)


class _BoundedRestClient(kubernetes.client.rest.RESTClientObject):
    """The official client's transport with a default ``_request_timeout``: a call that sets
    none (the client's own default is none at all) gets ``timeout``; with ``whole_call``, its
    read timeout is the deadline of the whole exchange (``http_deadline.within``). A 401
    answer is told to the token's source (``unauthorized``)."""

    def __init__(
        self,
        configuration: kubernetes.client.Configuration,
        timeout: Timeouts,
        token: BearerToken | None = None,
        whole_call: bool = False,
    ) -> None:
        super().__init__(configuration)
        guard_pools(self.pool_manager)
        self.default_timeout = timeout.pair()
        self.whole_call_seconds = timeout.read if whole_call else None
        self.token = token

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = self.default_timeout
        if self.whole_call_seconds is None:
            response = super().request(*args, **kwargs)  # type: ignore[no-untyped-call]
        else:
            with within(self.whole_call_seconds):
                response = super().request(*args, **kwargs)  # type: ignore[no-untyped-call]
                response.read()  # the client reads the answer later: read it within the deadline
        if self.token is not None and response.status == 401:
            self.token.unauthorized((kwargs.get("headers") or {}).get("authorization"))
        return response


class _KeepAliveAdapter(pykube.http.KubernetesHTTPAdapter):  # type: ignore[misc]
    """pykube's adapter (its credentials) with TCP keep-alive on its pooled sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("socket_options", keepalive_socket_options())
        super().init_poolmanager(*args, **kwargs)


KubernetesClient = kubernetes.client.ApiClient


@dataclass(frozen=True)
class ApiClients:
    """The shared clients and the pools their blocking calls run in.

    The Lease calls (leader election, shards, members) have a client and a pool of their
    own, as client-go's leader election has its own client: behind the evaluations' calls in
    the shared pool, a renewal waited past its deadline under load (a start-up burst of
    thousands of evaluations), and a replica lost its Lease to a queue of its own calls.
    """

    kubernetes: kubernetes.client.ApiClient
    pykube: pykube.HTTPClient
    pool: ThreadPoolExecutor
    status_pool: ThreadPoolExecutor
    coordination: KubernetesClient  # the field ``kubernetes`` hides the module's name here
    coordination_pool: ThreadPoolExecutor
    timeouts: Timeouts = Timeouts()

    @property
    def server(self) -> str:
        """The apiserver's URL, for messages."""
        return str(self.kubernetes.configuration.host)

    async def call(self, function: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a blocking client call in the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, partial(function, *args, **kwargs))

    async def write_status(
        self, function: Callable[..., T], /, *args: object, **kwargs: object
    ) -> T:
        """Run a blocking status write in the status pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.status_pool, partial(function, *args, **kwargs))

    async def coordinate(self, function: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a blocking Lease call in the coordination pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.coordination_pool, partial(function, *args, **kwargs)
        )

    async def drain(self) -> bool:
        """Cancel the calls still queued in the shared and status pools and wait, at most a
        call's timeout, for those already running: a write sent before a stop must land
        before this replica hands its Leases back, or it could land over the next holder's.
        False when a call still had no answer then (it may yet land: the caller lets its
        Leases expire instead of handing them back). The Lease calls' pool is left running
        (the hand-back goes through it)."""
        pools = (self.pool, self.status_pool)
        waits = [asyncio.to_thread(p.shutdown, wait=True, cancel_futures=True) for p in pools]
        try:
            async with asyncio.timeout(self.timeouts.connect + self.timeouts.read):
                await asyncio.gather(*waits)
        except TimeoutError:
            logger.warning("a call still had no answer at the stop; the Leases are left to expire")
            return False
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.status_pool.shutdown(wait=False, cancel_futures=True)
        self.coordination_pool.shutdown(wait=False, cancel_futures=True)
        self.kubernetes.close()  # type: ignore[no-untyped-call]
        self.coordination.close()  # type: ignore[no-untyped-call]
        self.pykube.session.close()


class CredentialsError(Exception):
    """Neither in-cluster credentials nor a usable kubeconfig."""

    def __init__(self, reason: object) -> None:
        # One line, whatever the reason spans (a YAML error quotes the lines around it).
        super().__init__(f"cannot load the API credentials: {' '.join(str(reason).split())}")


@dataclass(frozen=True)
class ServiceAccount:
    """Where a pod finds its in-cluster credentials: the mounted ServiceAccount directory and
    the apiserver's Service in the environment."""

    directory: Path = field(default_factory=lambda: SERVICE_ACCOUNT_DIRECTORY)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def token(self) -> Path:
        return self.directory / "token"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    def present(self) -> bool:
        """Whether in-cluster credentials are possible, as client-go's in-cluster config
        decides: the apiserver's Service in the environment, and a token file."""
        service = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
        return all(self.environ.get(name) for name in service) and self.token.is_file()

    def namespace(self) -> str:
        """The pod's namespace, as client-go's in-cluster config reads it: ``$POD_NAMESPACE``
        (the downward API), else the ServiceAccount's ``namespace`` file, else ``default``."""
        if from_downward_api := self.environ.get("POD_NAMESPACE", "").strip():
            return from_downward_api
        try:
            written = (self.directory / "namespace").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return DEFAULT_NAMESPACE
        return written or DEFAULT_NAMESPACE


def in_cluster() -> bool:
    return ServiceAccount().present()


class BearerToken(Protocol):
    """Where the clients get the bearer token of each request: :class:`TokenFile` or an exec
    plugin's :class:`~podpilot.kube.exec_credential.ExecCredential`."""

    def authorization(self) -> str:
        """The ``Authorization`` header's value now."""
        ...

    def unauthorized(self, authorization: str | None) -> None:
        """The API server answered 401 to a request that carried ``authorization``."""
        ...


_FileSignature = tuple[int, int, int, int]


class TokenFile:
    """A bearer token kept in a file that is replaced while the process runs (kubelet swaps
    the projected ServiceAccount token before it expires).

    :meth:`current` costs one ``stat``: the file is read again when it was replaced (kubelet's
    atomic writer gives it a new inode) or changed, and at least every ``reread_seconds`` (a
    change within one mtime tick). A read that fails or finds the file empty keeps the last
    token, as client-go does: the old token stays valid for a while, a missing one never is.
    Safe to call from many threads: the state is one tuple, replaced whole.
    """

    def __init__(
        self,
        path: Path,
        reread_seconds: float = TOKEN_REREAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._reread_seconds = reread_seconds
        self._clock = clock
        try:
            signature, token = self._signature(), self._read()
        except OSError as error:
            raise CredentialsError(f"cannot read the token file {path}: {error}") from error
        if token is None:
            raise CredentialsError(f"the token file {path} is empty")
        self._state: tuple[_FileSignature, str, float] = (signature, token, clock())

    def _signature(self) -> _FileSignature:
        stat = self.path.stat()
        return stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _read(self) -> str | None:
        return self.path.read_text(encoding="utf-8").strip() or None

    def current(self) -> str:
        """The token in the file now (or the last one read, while the file is unreadable)."""
        signature, token, read_at = self._state
        now = self._clock()
        try:
            # Taken before the read: a change in between is seen again at the next call.
            latest = self._signature()
            if latest == signature and now - read_at < self._reread_seconds:
                return token
            fresh = self._read()
        except OSError as error:
            logger.warning("token file %s not read, using the last token: %s", self.path, error)
            return token
        if fresh is None:
            logger.warning("token file %s is empty, using the last token", self.path)
            return token
        self._state = (latest, fresh, now)
        return fresh

    def authorization(self) -> str:
        """The ``Authorization`` header's value."""
        return f"Bearer {self.current()}"

    def unauthorized(self, authorization: str | None) -> None:
        """Read the file at the next request (kubelet may have replaced it within a tick)."""
        signature, token, _ = self._state
        self._state = (signature, token, -math.inf)


class BearerTokenAuth(requests.auth.AuthBase):
    """requests' auth hook for pykube: each request carries the source's current token (pykube
    leaves an ``Authorization`` header that is already set alone, and so never runs an exec
    plugin itself); a 401 answer is told to the source."""

    def __init__(self, token: BearerToken) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        sent = request.headers["Authorization"] = self.token.authorization()

        def refused(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            if response.status_code == 401:
                self.token.unauthorized(sent)

        request.register_hook("response", refused)  # type: ignore[no-untyped-call]
        return request


def refresh_token_from(configuration: kubernetes.client.Configuration, token: BearerToken) -> None:
    """The official client asks ``refresh_api_key_hook`` before each request's credentials:
    replace the loader's hook (which re-reads a kubeconfig's ``tokenFile`` never, the
    in-cluster file every minute, and runs an exec plugin without a time limit) with the
    source's current token."""

    def refresh(configuration: kubernetes.client.Configuration) -> None:
        configuration.api_key["BearerToken"] = token.authorization()

    refresh(configuration)
    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]


Kubeconfig = KubeconfigSelection | str | None
"""``--kubeconfig`` and ``--context``; a bare string is ``--kubeconfig`` alone, ``None`` the
environment's defaults."""


def _selection(kubeconfig: Kubeconfig) -> KubeconfigSelection:
    if isinstance(kubeconfig, KubeconfigSelection):
        return kubeconfig
    return KubeconfigSelection(paths=kubeconfig)


def _token_file_of_user(config: pykube.KubeConfig) -> Path | None:
    """The current context's user's ``tokenFile`` (made absolute by the merge)."""
    name = config.user.get("tokenFile")
    return Path(name).expanduser() if name else None


def _in_cluster_pykube_config(
    configuration: kubernetes.client.Configuration, namespace: str
) -> pykube.KubeConfig:
    """pykube's view of the in-cluster credentials the official client loaded (one reading of
    the environment), in the pod's namespace; the token comes from :class:`BearerTokenAuth`."""
    cluster = {"server": configuration.host, "certificate-authority": configuration.ssl_ca_cert}
    context = {"cluster": "self", "user": "self", "namespace": namespace}
    return pykube.KubeConfig(
        {
            "clusters": [{"name": "self", "cluster": cluster}],
            "users": [{"name": "self", "user": {}}],
            "contexts": [{"name": "self", "context": context}],
            "current-context": "self",
        }
    )


def _in_cluster_credentials(
    configuration: kubernetes.client.Configuration, service_account: ServiceAccount
) -> tuple[pykube.KubeConfig, TokenFile]:
    kubernetes.config.incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=str(service_account.token),
        cert_filename=str(service_account.ca_cert),
        environ=service_account.environ,
    ).load_and_set(configuration)
    pykube_config = _in_cluster_pykube_config(configuration, service_account.namespace())
    return pykube_config, TokenFile(service_account.token)


def _kubeconfig_unless_in_cluster(
    selection: KubeconfigSelection, service_account: ServiceAccount
) -> dict[str, Any] | None:
    """The merged kubeconfig, or None for the in-cluster credentials, in client-go's order:
    a kubeconfig found in the search path comes first, in a pod too; the in-cluster
    credentials only when none is (no file, or no current context) and none was asked for
    (``--kubeconfig`` or ``--context``). In a pod, a context without a namespace takes the
    pod's, as client-go gives it."""
    in_cluster = service_account.present()
    try:
        document = merged_kubeconfig(selection)
    except NoKubeconfigError:
        if selection.explicit() or not in_cluster:
            raise
        return None
    return with_default_namespace(document, service_account.namespace()) if in_cluster else document


class _ExecPluginFailures(logging.Filter):
    """Keeps the lines the official client's kubeconfig loader logs on the root logger when a
    user's exec credential plugin fails, off the log: the loader goes on without credentials,
    and every call would then be refused for want of them."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "root" and record.module == "kube_config":
            self.messages.append(record.getMessage())
            return False
        return True


@contextmanager
def _exec_plugin_failures() -> Iterator[list[str]]:
    root = logging.getLogger()
    failures = _ExecPluginFailures()
    # Without a handler on the root logger, logging.error() would first install one on stderr.
    guard = None if root.handlers else logging.NullHandler()
    root.addFilter(failures)
    if guard is not None:
        root.addHandler(guard)
    try:
        yield failures.messages
    finally:
        root.removeFilter(failures)
        if guard is not None:
            root.removeHandler(guard)


def _exec_credential(document: dict[str, Any]) -> tuple[ExecCredential | None, dict[str, Any]]:
    """The credential of the current user's exec plugin, from a first run within its time
    limit, and the document for both clients to load: without the plugin, which they would
    run again, without a limit.

    Raises:
        ExecPluginError: If the run fails or gives neither a token nor a client certificate.
    """
    user = exec_user(document)
    if user is None:
        return None, document
    status = user.plugin.run(EXEC_PLUGIN_TIMEOUT)
    if status.get("token"):
        credential = ExecCredential(user.plugin, status, timeout=EXEC_PLUGIN_TIMEOUT)
        return credential, without_exec(document, user.name)
    if status.get("clientCertificateData"):
        # No renewal is built for client certificates: both clients keep this run's for the
        # life of the process, as the kubernetes client does when it runs the plugin itself
        # (pykube would run it on every request, without a time limit).
        if not status.get("clientKeyData"):
            raise user.plugin.failure("missing clientKeyData field in plugin output")
        certificate = {
            f"client-{kind}-data": base64.b64encode(str(status[key]).encode()).decode()
            for kind, key in (("certificate", "clientCertificateData"), ("key", "clientKeyData"))
        }
        return None, without_exec(document, user.name, certificate)
    raise user.plugin.failure("missing token or clientCertificateData field in plugin output")


def load_credentials(
    kubeconfig: Kubeconfig,
    configuration: kubernetes.client.Configuration,
    service_account: ServiceAccount | None = None,
) -> tuple[pykube.KubeConfig, BearerToken | None]:
    """Fill ``configuration`` for the official client; pykube's configuration from the same,
    and the source of the bearer token both send: the token file both re-read, or the exec
    plugin's credential (none for a kubeconfig user with a static token or a client
    certificate: each library's own business).

    The merged kubeconfig (:mod:`kube.kubeconfig`) is used when one is found; the pod's
    ServiceAccount when none is and none was asked for (``_kubeconfig_unless_in_cluster``).
    ``service_account``: where the pod's is mounted (by default, where kubelet mounts it).

    Raises:
        CredentialsError: If neither gives usable credentials.
    """
    selection = _selection(kubeconfig)
    service_account = service_account or ServiceAccount()
    try:
        document = _kubeconfig_unless_in_cluster(selection, service_account)
        if document is None:
            return _in_cluster_credentials(configuration, service_account)
        credential, client_document = _exec_credential(document)
        with _exec_plugin_failures() as failures:
            kubernetes.config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                client_document, client_configuration=configuration, persist_config=False
            )
        if failures:
            raise CredentialsError(
                "the exec credential plugin failed: "
                + " ".join(failures[0].removeprefix("exec: ").split())
            )
        pykube_config = pykube.KubeConfig(client_document)
        if not configuration.host:
            cluster = _cluster_name(pykube_config)
            raise CredentialsError(
                f'invalid configuration: no server found for cluster "{cluster}"'
            )
        if credential is not None:
            refresh_token_from(configuration, credential)
            return pykube_config, credential
        token_path = _token_file_of_user(pykube_config)
        return pykube_config, None if token_path is None else TokenFile(token_path)
    except (
        KubeconfigError,
        kubernetes.config.ConfigException,
        pykube.exceptions.PyKubeError,
        OSError,
        KeyError,
        yaml.YAMLError,
        # A kubeconfig of the wrong shape (a list, a string), not UTF-8, or with bad base64.
        TypeError,
        ValueError,
        AttributeError,
    ) as error:
        raise CredentialsError(error) from error


def _cluster_name(config: pykube.KubeConfig) -> str:
    context = config.contexts.get(config.current_context) or {}
    return str(context.get("cluster", ""))


def token_file(
    kubeconfig: Kubeconfig = None, service_account: ServiceAccount | None = None
) -> TokenFile | None:
    """The token file the clients re-read, for another client of the same credentials (kopf's
    session): the kubeconfig user's ``tokenFile``, or the ServiceAccount's in cluster."""
    token = load_credentials(kubeconfig, kubernetes.client.Configuration(), service_account)[1]
    return token if isinstance(token, TokenFile) else None


def connect(
    kubeconfig: Kubeconfig = None,
    max_concurrent_calls: int = 16,
    max_concurrent_status_writes: int = MAX_CONCURRENT_STATUS_WRITES,
    timeouts: Timeouts = Timeouts(),
    service_account: ServiceAccount | None = None,
    lease_calls: int = 1,
    whole_call: bool = False,
) -> ApiClients:
    """Build both clients from a kubeconfig (``$KUBECONFIG``, merged) or in-cluster credentials
    (``load_credentials``).

    ``whole_call``: the official client's read timeout bounds each call as a whole, however
    slowly the answer comes (kubectl's ``--request-timeout``), not only each read; every
    answer is read whole within it, so such a client cannot watch.

    Each client's connection pool holds a connection per thread that may use it, so no
    connection is opened and dropped again during a burst. Every call is bounded by
    ``timeouts`` unless it names its own. A token from a file (the ServiceAccount's, or a
    kubeconfig's ``tokenFile``) is re-read when the file is replaced; one from an exec plugin
    is refreshed as it expires (:mod:`kube.exec_credential`).

    ``lease_calls``: how many Lease calls may be in flight at once (one per Lease, each
    ``lease.OneCallAtATime``), the threads of the coordination pool: a Lease call never waits
    for another Lease's.
    """
    configuration = kubernetes.client.Configuration()
    pykube_config, token = load_credentials(kubeconfig, configuration, service_account)
    configuration.connection_pool_maxsize = (
        max_concurrent_calls + max_concurrent_status_writes + WATCH_CONNECTIONS + lease_calls
    )  # at most, for each client (the coordination client has a pool of its own)
    configuration.socket_options = keepalive_socket_options()
    configuration.retries = api_retries()
    client = kubernetes.client.ApiClient(configuration)
    client.rest_client = _BoundedRestClient(configuration, timeouts, token, whole_call)
    coordination = kubernetes.client.ApiClient(configuration)
    coordination.rest_client = _BoundedRestClient(configuration, timeouts, token)
    # pykube applies its client's ``timeout`` to every request that names none; requests'
    # adapter does not resend a request whose answer timed out.
    try:
        adapter = _KeepAliveAdapter(pykube_config, pool_maxsize=max_concurrent_calls)
        http = pykube.HTTPClient(pykube_config, timeout=timeouts.pair(), http_adapter=adapter)
    except (pykube.exceptions.PyKubeError, OSError) as error:  # a certificate file it cannot use
        raise CredentialsError(error) from error
    if token is not None:
        refresh_token_from(configuration, token)
        http.session.auth = BearerTokenAuth(token)
    return ApiClients(
        kubernetes=client,
        pykube=http,
        pool=ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="podpilot-api"),
        status_pool=ThreadPoolExecutor(
            max_concurrent_status_writes, thread_name_prefix="podpilot-status"
        ),
        coordination=coordination,
        coordination_pool=ThreadPoolExecutor(lease_calls, thread_name_prefix="podpilot-lease"),
        timeouts=timeouts,
    )
