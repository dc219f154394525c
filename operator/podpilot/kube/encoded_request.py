"""One API request whose body is JSON already encoded, sent through the official client's
connection pool with its credentials (``send_through_pool``), its answer drained unread.

The client's generated methods validate, copy and encode a body on every call, and parse the
whole object the API server answers with. A status write needs none of that: its body is
encoded once, where it is queued, and nothing reads the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import kubernetes
import urllib3

from podpilot.kube.clients import send_through_pool


@dataclass(frozen=True)
class EncodedRequest:
    client: kubernetes.client.ApiClient
    method: str
    path: str  # from /apis or /api on, escaped
    query: Sequence[tuple[str, str]]
    body: bytes
    content_type: str
    timeout: tuple[float, float]  # (connect, read) seconds

    def send(self) -> None:
        """Send and drain the answer; a status outside 2xx raises ``ApiException`` with the
        answer's status, reason, headers and body, as the generated methods do."""
        path = self.path
        if self.query:
            path += "?" + urlencode(self.query)
        response = send_through_pool(
            self.client,
            self.method,
            path,
            {"Content-Type": self.content_type, "Accept": "application/json"},
            body=self.body,
            timeout=urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
            preload_content=False,
        )
        try:
            if not 200 <= response.status <= 299:
                error = kubernetes.client.exceptions.ApiException(
                    status=response.status, reason=response.reason
                )
                error.headers = response.headers
                error.body = response.data.decode("utf-8", "replace")
                raise error
        finally:
            response.drain_conn()
            response.release_conn()
