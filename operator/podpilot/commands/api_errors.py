"""An API call's failure as one line and its exit status, worded as kubectl words it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from podpilot.apimachinery.api_status import one_line, server_error
from podpilot.commands.conventions import EXIT_FAILED, EXIT_NO_ANSWER, CommandError

if TYPE_CHECKING:
    from podpilot.kube.clients import ApiClients

UNSUPPORTED_CONTENT = "Unsupported content type"
"""How the client's ``ApiException`` (status 0) begins its reason for an answer of a type it
does not read: an answer, not a connection that failed."""


def unreadable_answer_errors() -> tuple[type[Exception], ...]:
    """What the client raises on an HTTP answer it cannot read as the object asked for (a
    proxy's login page, a List, another kind): bytes that are not UTF-8, text that is not
    JSON, JSON that does not fit the typed model (pydantic's ``ValidationError``)."""
    import pydantic

    return (UnicodeDecodeError, json.JSONDecodeError, pydantic.ValidationError)


def unexpected_answer(about: str | None = None, problem: str | None = None) -> str:
    """``unexpected answer [for ABOUT] [(PROBLEM)]``: an HTTP answer that is not the object
    asked for."""
    words = f"unexpected answer for {about}" if about else "unexpected answer"
    return f"{words} ({problem})" if problem else words


def answer_problem(error: BaseException) -> str:
    """What is wrong with an answer, from the error the client raised reading it (one of
    ``unreadable_answer_errors``, or its ``ApiException`` for a content type it does not read)."""
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(error, json.JSONDecodeError):
        return "not JSON"
    if _unsupported_content(error):
        return one_line(str(getattr(error, "reason", "")))
    return "not the object asked for"


def _unsupported_content(error: BaseException) -> bool:
    return str(getattr(error, "reason", "")).startswith(UNSUPPORTED_CONTENT)


def api_failure(
    error: BaseException, clients: ApiClients, doing: str | None = None
) -> CommandError:
    """The ``CommandError`` of a call that raised ``error``: the server's refusal or an answer
    that is not the object asked for (prefixed with ``cannot <doing>``, when a command makes
    several calls), or no answer at all."""
    import kubernetes

    from podpilot.kube.clients import no_answer

    if isinstance(error, unreadable_answer_errors()):
        return _failed(unexpected_answer(problem=answer_problem(error)), doing)
    if not isinstance(error, kubernetes.client.ApiException):
        return CommandError(no_answer(error, clients.server, clients.timeouts), EXIT_NO_ANSWER)
    if _unsupported_content(error):
        return _failed(unexpected_answer(problem=answer_problem(error)), doing)
    if not error.status:  # no HTTP answer (a TLS failure): the client reports status 0
        reason = one_line(str(error.reason))
        return CommandError(f"the API server at {clients.server}: {reason}", EXIT_NO_ANSWER)
    return _failed(server_error(error), doing)


def _failed(what_happened: str, doing: str | None) -> CommandError:
    return CommandError(f"cannot {doing}: {what_happened}" if doing else what_happened, EXIT_FAILED)
