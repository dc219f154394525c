"""An API server's refusal (its ``Status`` answer) read: as one line of text, kubectl's way,
and by the causes it names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

NAMESPACE_TERMINATING = "NamespaceTerminating"
"""The cause the API server names when it refuses new objects in a namespace being deleted."""


def one_line(text: str) -> str:
    """``text`` with its runs of whitespace (newlines, tabs) folded into one space."""
    return " ".join(text.split())


def answered_status(error: Any) -> Mapping[str, Any]:
    """The ``Status`` in an ``ApiException``'s body; empty when the body is not one (a proxy's
    page, no body)."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return status if isinstance(status, Mapping) else {}


def server_error(error: Any) -> str:
    """An ``ApiException`` as kubectl prints it, from the ``Status`` the API server answered:
    ``Error from server (NotFound): autoscalers.podpilot.io "web" not found``. Without a
    ``Status`` (a proxy's page), the HTTP reason stands for both parts. Always one line."""
    status = answered_status(error)
    http_reason = one_line(str(error.reason or error.status))
    reason = one_line(str(status.get("reason") or http_reason.replace(" ", "")))
    message = one_line(str(status.get("message") or http_reason))
    return f"Error from server ({reason}): {message}"


def cause_types(error: Any) -> frozenset[str]:
    """The types of the causes (``details.causes[].type``) the answered ``Status`` names."""
    details = answered_status(error).get("details")
    causes = details.get("causes") if isinstance(details, Mapping) else None
    if not isinstance(causes, list):
        return frozenset()
    return frozenset(str(c.get("type")) for c in causes if isinstance(c, Mapping) and c.get("type"))
