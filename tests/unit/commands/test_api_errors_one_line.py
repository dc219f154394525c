"""Every API failure is one line: the server's words with their newlines folded, and an answer
the client cannot read as the object asked for worded as an unexpected answer (exit status 1),
not as a server that did not answer."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from kubernetes.client import ApiException, V2HorizontalPodAutoscaler

from podpilot.apimachinery.api_status import one_line, server_error
from podpilot.commands.api_errors import answer_problem, api_failure, unexpected_answer
from podpilot.commands.conventions import EXIT_FAILED
from podpilot.kube.clients import Timeouts


class Clients:
    server = "https://127.0.0.1:6443"
    timeouts = Timeouts.reading(2.0)


CLIENTS: Any = Clients()


def refusal(status: int, reason: str, body: object) -> ApiException:
    failure = ApiException(status=status, reason=reason)
    failure.body = body if isinstance(body, str | None) else json.dumps(body)
    return failure


def test_one_line_folds_every_run_of_whitespace() -> None:
    assert one_line(" a\nb\r\n\tc  d \n") == "a b c d"


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            refusal(403, "Forbidden", {"reason": "Forbidden", "message": "no\nway:\n\tthis"}),
            "Error from server (Forbidden): no way: this",
        ),
        (
            refusal(502, "Bad\nGateway", "<html>\n</html>"),
            "Error from server (BadGateway): Bad Gateway",
        ),
        (
            refusal(400, "Bad Request", {"reason": "Bad\nRequest", "message": "x"}),
            "Error from server (Bad Request): x",
        ),
    ],
    ids=["message", "http-reason", "status-reason"],
)
def test_a_server_message_with_newlines_is_one_line(failure: ApiException, said: str) -> None:
    assert server_error(failure) == said
    assert str(api_failure(failure, CLIENTS, "read it")) == f"cannot read it: {said}"


def validation_error() -> pydantic.ValidationError:
    try:
        V2HorizontalPodAutoscaler.from_dict({"kind": "List", "items": []})
    except pydantic.ValidationError as error:
        return error
    raise AssertionError("a List is not an HPA")


def decode_error() -> UnicodeDecodeError:
    try:
        b"\xff".decode("utf-8")
    except UnicodeDecodeError as error:
        return error
    raise AssertionError("0xff is not UTF-8")


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (decode_error(), "not UTF-8"),
        (json.JSONDecodeError("Expecting value", "<html>", 0), "not JSON"),
        (validation_error(), "not the object asked for"),
        (
            ApiException(status=0, reason="Unsupported content type: text/xml"),
            "Unsupported content type: text/xml",
        ),
    ],
    ids=["not-utf-8", "not-json", "another-shape", "another-content-type"],
)
def test_an_unreadable_answer_is_unexpected_and_exit_status_1(
    error: BaseException, problem: str
) -> None:
    assert answer_problem(error) == problem
    failure = api_failure(error, CLIENTS, "read HorizontalPodAutoscaler shop/web")
    assert (str(failure), failure.exit_status) == (
        f"cannot read HorizontalPodAutoscaler shop/web: unexpected answer ({problem})",
        EXIT_FAILED,
    )


def test_unexpected_answer_names_what_was_asked_for_when_told() -> None:
    assert unexpected_answer() == "unexpected answer"
    assert unexpected_answer("Autoscaler shop/web", "not JSON") == (
        "unexpected answer for Autoscaler shop/web (not JSON)"
    )
