"""An API call's failure as one line and its exit status, worded as kubectl words it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podpilot.commands.conventions import EXIT_FAILED, EXIT_NO_ANSWER, CommandError

if TYPE_CHECKING:
    from podpilot.kube.clients import ApiClients


def server_error(error: Any) -> str:
    """An ``ApiException`` as kubectl prints it, from the ``Status`` the API server answered:
    ``Error from server (NotFound): autoscalers.podpilot.io "web" not found``. Without a
    ``Status`` (a proxy's page), the HTTP reason stands for both parts."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if not isinstance(status, Mapping):
        status = {}
    http_reason = str(error.reason or error.status)
    reason = status.get("reason") or http_reason.replace(" ", "")
    return f"Error from server ({reason}): {status.get('message') or http_reason}"


def api_failure(
    error: BaseException, clients: ApiClients, doing: str | None = None
) -> CommandError:
    """The ``CommandError`` of a call that raised ``error``: the server's refusal (prefixed
    with ``cannot <doing>``, when a command makes several calls), or no answer at all."""
    import kubernetes

    from podpilot.kube.clients import no_answer

    if not isinstance(error, kubernetes.client.ApiException):
        return CommandError(no_answer(error, clients.server, clients.timeouts), EXIT_NO_ANSWER)
    if not error.status:  # no HTTP answer (a TLS failure): the client reports status 0
        return CommandError(f"the API server at {clients.server}: {error.reason}", EXIT_NO_ANSWER)
    refusal = server_error(error)
    return CommandError(f"cannot {doing}: {refusal}" if doing else refusal, EXIT_FAILED)
