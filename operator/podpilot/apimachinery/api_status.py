"""An API server's refusal (its ``Status`` answer) as one line of text, kubectl's way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def one_line(text: str) -> str:
    """``text`` with its runs of whitespace (newlines, tabs) folded into one space."""
    return " ".join(text.split())


def server_error(error: Any) -> str:
    """An ``ApiException`` as kubectl prints it, from the ``Status`` the API server answered:
    ``Error from server (NotFound): autoscalers.podpilot.io "web" not found``. Without a
    ``Status`` (a proxy's page), the HTTP reason stands for both parts. Always one line."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if not isinstance(status, Mapping):
        status = {}
    http_reason = one_line(str(error.reason or error.status))
    reason = one_line(str(status.get("reason") or http_reason.replace(" ", "")))
    message = one_line(str(status.get("message") or http_reason))
    return f"Error from server ({reason}): {message}"
