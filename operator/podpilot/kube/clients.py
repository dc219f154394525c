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
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import kubernetes
import pykube
import requests
import urllib3

T = TypeVar("T")

MAX_CONCURRENT_STATUS_WRITES = 4
# The Autoscaler's pod and Deployment watches each hold a connection while they stream.
WATCH_CONNECTIONS = 2
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

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


class NoResendAfterTimeout(urllib3.Retry):
    """urllib3's default retries (a stale pooled connection is reopened), except that a request
    whose answer timed out is not sent again: the apiserver has it and did not answer in time,
    and each resend would add a whole read timeout to the call (urllib3's default resends a
    GET three times: four times the bound). A connect that timed out is tried once more."""

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
    if _wraps(error, (urllib3.exceptions.ConnectTimeoutError, requests.ConnectTimeout)):
        return f"the API server at {server} did not accept a connection in {timeouts.connect:g} s"
    if timed_out(error):
        return f"the API server at {server} did not answer within {timeouts.read:g} s"
    reason = getattr(error, "reason", None) or error
    return f"the API server at {server} could not be reached: {reason}"


def api_retries() -> urllib3.Retry:
    return NoResendAfterTimeout(total=3, connect=1)


class _BoundedRestClient(kubernetes.client.rest.RESTClientObject):
    """The official client's transport with a default ``_request_timeout``: a call that sets
    none (the client's own default is none at all) gets ``timeout``."""

    def __init__(self, configuration: kubernetes.client.Configuration, timeout: Timeouts) -> None:
        super().__init__(configuration)
        self.default_timeout = timeout.pair()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = self.default_timeout
        return super().request(*args, **kwargs)  # type: ignore[no-untyped-call]


class _KeepAliveAdapter(pykube.http.KubernetesHTTPAdapter):  # type: ignore[misc]
    """pykube's adapter (its credentials) with TCP keep-alive on its pooled sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("socket_options", keepalive_socket_options())
        super().init_poolmanager(*args, **kwargs)


@dataclass(frozen=True)
class ApiClients:
    """The shared clients and the pools their blocking calls run in."""

    kubernetes: kubernetes.client.ApiClient
    pykube: pykube.HTTPClient
    pool: ThreadPoolExecutor
    status_pool: ThreadPoolExecutor
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

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.status_pool.shutdown(wait=False, cancel_futures=True)
        self.kubernetes.close()  # type: ignore[no-untyped-call]
        self.pykube.session.close()


def in_cluster() -> bool:
    return SERVICE_ACCOUNT_TOKEN.exists() and "KUBERNETES_SERVICE_HOST" in os.environ


class CredentialsError(Exception):
    """Neither in-cluster credentials nor a usable kubeconfig."""


def _load_credentials(
    kubeconfig: str | None, configuration: kubernetes.client.Configuration
) -> pykube.KubeConfig:
    """Fill ``configuration`` for the official client; pykube's configuration from the same."""
    if kubeconfig is None and in_cluster():
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return pykube.KubeConfig.from_service_account()
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, client_configuration=configuration
    )
    return pykube.KubeConfig.from_file(path)


def connect(
    kubeconfig: str | None = None,
    max_concurrent_calls: int = 16,
    max_concurrent_status_writes: int = MAX_CONCURRENT_STATUS_WRITES,
    timeouts: Timeouts = Timeouts(),
) -> ApiClients:
    """Build both clients from in-cluster credentials or a kubeconfig (``$KUBECONFIG``).

    Each client's connection pool holds a connection per thread that may use it, so no
    connection is opened and dropped again during a burst. Every call is bounded by
    ``timeouts`` unless it names its own.
    """
    configuration = kubernetes.client.Configuration()
    try:
        pykube_config = _load_credentials(kubeconfig, configuration)
    except (kubernetes.config.ConfigException, pykube.exceptions.PyKubeError, OSError) as error:
        raise CredentialsError(f"cannot load the API credentials: {error}") from error
    configuration.connection_pool_maxsize = (
        max_concurrent_calls + max_concurrent_status_writes + WATCH_CONNECTIONS
    )
    configuration.socket_options = keepalive_socket_options()
    configuration.retries = api_retries()
    client = kubernetes.client.ApiClient(configuration)
    client.rest_client = _BoundedRestClient(configuration, timeouts)
    # pykube applies its client's ``timeout`` to every request that names none; requests'
    # adapter does not resend a request whose answer timed out.
    adapter = _KeepAliveAdapter(pykube_config, pool_maxsize=max_concurrent_calls)
    http = pykube.HTTPClient(pykube_config, timeout=timeouts.pair(), http_adapter=adapter)
    return ApiClients(
        kubernetes=client,
        pykube=http,
        pool=ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="podpilot-api"),
        status_pool=ThreadPoolExecutor(
            max_concurrent_status_writes, thread_name_prefix="podpilot-status"
        ),
        timeouts=timeouts,
    )
