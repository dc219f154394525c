"""One API request whose body is JSON already encoded, sent through the official client's
connection pool with its credentials (``send_through_pool``); of its answer only the object's
``resourceVersion`` is kept.

The client's generated methods validate, copy and encode a body on every call, and build
model objects of the whole answer. A status write needs none of that: its body is encoded
once, where it is queued, and the one thing read of the answer is the version the next
conditional write names (``kube.status_writes``).
"""

from __future__ import annotations

import json
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

    def send(self) -> str | None:
        """Send; return the answered object's ``metadata.resourceVersion`` (None when the
        answer carries none). A status outside 2xx raises ``ApiException`` with the answer's
        status, reason, headers and body, as the generated methods do."""
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
            return answered_resource_version(response.data)
        finally:
            response.drain_conn()
            response.release_conn()


VERSION_FIELD = b'"resourceVersion":"'


def answered_resource_version(answer: bytes) -> str | None:
    """``metadata.resourceVersion`` of an answered object; None for an answer without one.

    Found by its field where the answer names one field of that name (the usual case: nothing
    is parsed, as when answers were drained unread); parsed when it names several (a label or
    annotation keyed ``resourceVersion``) or none.
    """
    first = answer.find(VERSION_FIELD)
    if first >= 0 and answer.find(VERSION_FIELD, first + 1) < 0:
        start = first + len(VERSION_FIELD)
        end = answer.find(b'"', start)
        field = answer[start:end] if end > start else b""
        if field.isalnum():  # an opaque token, digits in practice; an escape is parsed below
            return field.decode("ascii")
    try:
        found = json.loads(answer)
    except (ValueError, RecursionError):  # not an object: the next write reads the version
        return None
    metadata = found.get("metadata") if isinstance(found, dict) else None
    stored = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
    return stored if isinstance(stored, str) and stored else None
