"""The kubelet's Summary API, read at the node's own endpoint the way metrics-server reads it.

``GET https://ADDRESS:PORT/stats/summary`` with the operator's own credentials (its bearer token,
or the client certificate of a kubeconfig user). The kubelet asks the API server whether that
identity may ``get`` ``nodes/stats``, the subresource it maps ``/stats/*`` to; no
``nodes/proxy`` is involved. The kubelet's serving certificate is verified against a CA bundle
(by default the one the operator trusts for the API server), unless the admin opted out
explicitly (``--kubelet-insecure-tls``, as metrics-server names it).

Every request is bounded: connect and read timeouts, one deadline over the whole exchange
(``http_deadline``'s watchdog) and a cap on the answer's size. Nothing of an answer's body is
ever copied into an error.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import kubernetes
import urllib3

from podpilot.kube.clients import (
    Timeouts,
    bearer_header,
    keepalive_socket_options,
    timed_out,
)
from podpilot.kube.http_deadline import guard_pools, within
from podpilot.settings import KubeletSettings

logger = logging.getLogger(__name__)

SUMMARY_PATH = "/stats/summary"
MAX_SUMMARY_BYTES = 8 * 1024 * 1024
"""A larger answer is refused. A Summary of 250 pods of four containers and ten volumes each is
2 MiB, of 110 pods under 1 MiB; decoding a hostile body (``{}`` repeated) costs 26 times its
size, so 8 MiB keeps one decode near 200 MiB (docs/emptydir-audit.md)."""
READ_CHUNK_BYTES = 64 * 1024


class KubeletError(Exception):
    """A Summary request that brought no usable answer.

    Attributes:
        outcome: ``forbidden``, ``timeout``, ``tls`` or ``error`` (the poll metric's label).
    """

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class KubeletClient:
    """Blocking Summary reads over one pool of TLS connections, one host per node."""

    def __init__(
        self,
        configuration: kubernetes.client.Configuration,
        tls: KubeletSettings,
        timeouts: Timeouts,
        max_nodes: int = 64,
    ) -> None:
        self._configuration = configuration
        self._timeouts = timeouts
        self.ca_file = None if tls.insecure_tls else tls.ca_file or configuration.ssl_ca_cert
        if tls.insecure_tls:
            verification: dict[str, object] = {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        elif self.ca_file:
            verification = {"cert_reqs": "CERT_REQUIRED", "ca_certs": self.ca_file}
        else:
            verification = {"cert_reqs": "CERT_REQUIRED"}  # the system's trust store
        self._pool = urllib3.PoolManager(
            num_pools=max_nodes,
            maxsize=1,
            retries=False,
            timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
            socket_options=keepalive_socket_options(),
            **verification,  # type: ignore[arg-type]
        )
        guard_pools(self._pool)

    def summary(self, address: str, port: int) -> bytes:
        """The Summary document of the kubelet at ``address:port``.

        Raises:
            KubeletError: On any failure; its message names the endpoint and the cause.
        """
        host = f"[{address}]" if ":" in address else address
        url = f"https://{host}:{port}{SUMMARY_PATH}"
        headers = summary_headers(self._configuration)  # a credential failure is not the kubelet's
        try:
            return read_summary_within(
                lambda: self._pool.request(
                    "GET", url, headers=headers, preload_content=False, redirect=False
                ),
                f"the kubelet at {url}",
                self._timeouts.read,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self._no_answer(url, error) from None

    def _no_answer(self, url: str, error: BaseException) -> KubeletError:
        if _caused_by(error, (ssl.SSLError, urllib3.exceptions.SSLError)):
            trusted = f"the CA bundle {self.ca_file}" if self.ca_file else "the system CAs"
            return KubeletError(
                "tls",
                f"the kubelet at {url} presented a certificate not verified by {trusted}: "
                f"{_innermost(error)}",
            )
        # urllib3's NewConnectionError (refused, no route) is a ConnectTimeoutError by class.
        if timed_out(error) and not _caused_by(error, (urllib3.exceptions.NewConnectionError,)):
            return KubeletError(
                "timeout", f"the kubelet at {url} did not answer within {self._timeouts.read:g} s"
            )
        return KubeletError(
            "error", f"the kubelet at {url} could not be reached: {_innermost(error)}"
        )

    def close(self) -> None:
        self._pool.clear()


def summary_headers(configuration: kubernetes.client.Configuration) -> dict[str, str]:
    """A Summary request's headers: JSON, and the operator's bearer token if it has one."""
    return {"Accept": "application/json", **bearer_header(configuration)}


def read_summary_within(
    send: Callable[[], urllib3.BaseHTTPResponse], source: str, seconds: float
) -> bytes:
    """The Summary that ``send`` (a request through a pool given to ``guard_pools``, its body
    not preloaded) brings from ``source`` (``the kubelet at URL``), all of the exchange within
    ``seconds``: a server trickling its headers or body is cut at the deadline. Refused unless
    HTTP 200 (without its body) or beyond ``MAX_SUMMARY_BYTES``. The connection is reused only
    after a whole answer.

    Raises:
        KubeletError: A refusal, or an answer too large or too slow.
        urllib3.exceptions.HTTPError, OSError: The connection failed.
    """
    try:
        with within(seconds):
            response = send()
            try:
                body = _read_bounded(response, source)
            except BaseException:
                response.close()  # an unread or partly read body: the connection is not reused
                raise
            response.release_conn()
            return body
    except TimeoutError:
        raise KubeletError(
            "timeout", f"{source} did not finish its answer within {seconds:g} s"
        ) from None


def _read_bounded(response: urllib3.BaseHTTPResponse, source: str) -> bytes:
    if response.status != 200:
        outcome = {401: "forbidden", 403: "forbidden", 504: "timeout"}.get(response.status, "error")
        raise KubeletError(outcome, f"HTTP {response.status} from {source}")
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(READ_CHUNK_BYTES):  # whatever has arrived, not a full chunk
        size += len(chunk)
        if size > MAX_SUMMARY_BYTES:
            raise KubeletError("error", f"{source} sent more than {MAX_SUMMARY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _caused_by(
    error: BaseException | None, kinds: tuple[type[BaseException], ...], depth: int = 0
) -> bool:
    if error is None or depth > 5:
        return False
    if isinstance(error, kinds):
        return True
    inner = (getattr(error, "reason", None), error.__cause__, error.__context__)
    return any(_caused_by(e, kinds, depth + 1) for e in inner if isinstance(e, BaseException))


def _innermost(error: BaseException) -> str:
    """The root cause's text (urllib3 nests it in MaxRetryError and friends)."""
    for _ in range(5):
        reason = getattr(error, "reason", None)
        if not isinstance(reason, BaseException):
            break
        error = reason
    return str(error) or type(error).__name__
