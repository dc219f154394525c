"""``podpilot takeover`` against a local stand-in apiserver that answers every method: an
answer that is not what was asked for, an HPA with no count to seed from, an empty tally and a
refused Event are each one line, with the documented exit status; --undo refuses the flags
that decide a takeover."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.local_http import handled_by
from tests.unit.commands.test_takeover_command import (
    AUTOSCALERS_PATH,
    HPA,
    HPA_PATH,
    autoscaler,
    kubeconfig,
)

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from podpilot.commands.takeover import EXIT_REFUSED

Answer = tuple[int, bytes]
Request = tuple[str, str]  # method, path
EVENTS_PATH = "/api/v1/namespaces/shop/events"
NOT_FOUND: Answer = (404, b'{"kind":"Status","code":404,"reason":"NotFound","message":"nf"}')
FORBIDDEN_EVENTS = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": 'events is forbidden: User "jane" cannot create resource "events" in API group '
    '"" in the namespace "shop"',
    "reason": "Forbidden",
    "details": {"kind": "events"},
    "code": 403,
}
AGREEING = {"hpa": "web", "evaluations": 40, "agreed": 40}
EVENT = {"kind": "Event", "metadata": {"name": "web.1"}, "involvedObject": {"name": "web"}}


@contextmanager
def stand_in(answers: Mapping[Request, Answer], seen: list[Request]) -> Iterator[str]:
    """An apiserver on 127.0.0.1 answering (method, path) from ``answers`` (others 404), each
    request appended to ``seen``, until the block ends; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = (self.command, urlsplit(self.path).path.rstrip("/"))
            seen.append(request)
            status, body = answers.get(request, NOT_FOUND)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def do_PATCH(self) -> None:
            self.answer()

        def do_DELETE(self) -> None:
            self.answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with handled_by(Handler) as url:
        yield url


def as_json(value: object) -> bytes:
    return json.dumps(value).encode()


def a_takeover(
    hpa: object = HPA, shadow: dict[str, Any] | None = AGREEING
) -> dict[Request, Answer]:
    """The answers of a takeover the API server allows, Events included."""
    found = autoscaler(shadow)
    return {
        ("GET", HPA_PATH): (200, hpa if isinstance(hpa, bytes) else as_json(hpa)),
        ("GET", AUTOSCALERS_PATH): (200, as_json({"items": [found]})),
        ("PATCH", f"{AUTOSCALERS_PATH}/web"): (200, as_json(found)),
        ("POST", EVENTS_PATH): (201, as_json(EVENT)),
        ("DELETE", HPA_PATH): (200, as_json({"kind": "Status", "status": "Success"})),
    }


def takeover(
    tmp_path: Path, answers: Mapping[Request, Answer], *argv: str
) -> tuple[int, list[Request]]:
    seen: list[Request] = []
    with stand_in(answers, seen) as url:
        config = kubeconfig(tmp_path, url)
        status = main(["takeover", *argv, "-n", "shop", "--kubeconfig", str(config)])
    return status, seen


def writes(seen: list[Request]) -> list[Request]:
    return [request for request in seen if request[0] != "GET"]


def test_forbidden_events_are_a_warning_line_each_and_the_takeover_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = a_takeover()
    answers["POST", EVENTS_PATH] = (403, as_json(FORBIDDEN_EVENTS))

    status, seen = takeover(tmp_path, answers, "hpa", "web")
    captured = capsys.readouterr()

    assert status == EXIT_OK
    assert ("DELETE", HPA_PATH) in seen
    assert captured.out.splitlines() == [
        "autoscaler.podpilot.io/web took over from horizontalpodautoscaler/web "
        "(seeded at 3 replicas)"
    ]
    refused = f"Error from server (Forbidden): {FORBIDDEN_EVENTS['message']}"
    assert captured.err.splitlines() == [
        f"podpilot takeover: warning: cannot create Event {event}: {refused}"
        for event in ("TakeoverSeeded", "HpaDeleted")
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html><body>Sign in</body></html>", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not the object asked for"),
        (b'{"kind": "List", "apiVersion": "v1", "items": []}', "not the object asked for"),
        (
            as_json({**HPA, "metadata": {"name": "other", "resourceVersion": "1"}}),
            "not HorizontalPodAutoscaler web",
        ),
        (as_json({**HPA, "metadata": {"name": "web"}}), "not HorizontalPodAutoscaler web"),
    ],
    ids=["a-login-page", "not-utf-8", "an-array", "a-list", "another-hpa", "no-version"],
)
def test_an_answer_that_is_not_the_hpa_is_one_line_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: bytes, problem: str
) -> None:
    status, seen = takeover(tmp_path, a_takeover(hpa=body), "hpa", "web", "--force")

    assert (status, writes(seen)) == (EXIT_FAILED, [])
    assert capsys.readouterr().err.splitlines() == [
        "podpilot takeover: error: cannot read HorizontalPodAutoscaler shop/web: "
        f"unexpected answer ({problem})"
    ]


@pytest.mark.parametrize(
    "listed",
    [b"<html></html>", b"[]", b'{"items": 5}', b'{"items": [{"spec": {}}]}'],
    ids=["a-page", "an-array", "items-not-a-list", "an-item-without-a-name"],
)
def test_a_listing_that_is_not_autoscalers_is_one_line_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listed: bytes
) -> None:
    answers = a_takeover()
    answers["GET", AUTOSCALERS_PATH] = (200, listed)

    status, seen = takeover(tmp_path, answers, "hpa", "web", "--force")

    assert (status, writes(seen)) == (EXIT_FAILED, [])
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "podpilot takeover: error: cannot list Autoscalers in shop: unexpected answer ("
    )


@pytest.mark.parametrize(
    "status_field",
    [None, {"desiredReplicas": 0}],
    ids=["no-status", "never-synced"],  # the API's zero value: desiredReplicas is required
)
def test_a_forced_takeover_of_an_hpa_without_a_count_is_refused_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status_field: object
) -> None:
    hpa = {**HPA, "status": status_field}

    status, seen = takeover(tmp_path, a_takeover(hpa=hpa), "hpa", "web", "--force")

    assert (status, writes(seen)) == (EXIT_FAILED, [])
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "podpilot takeover: error: HorizontalPodAutoscaler shop/web has no replica count yet"
    )
    assert "(--force does not override this)" in line


def test_min_evaluations_0_still_refuses_an_empty_tally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = {"hpa": "web", "evaluations": 0, "agreed": 0}

    status, seen = takeover(
        tmp_path, a_takeover(shadow=empty), "hpa", "web", "--min-evaluations", "0"
    )

    assert (status, writes(seen)) == (EXIT_REFUSED, [])
    assert capsys.readouterr().err.splitlines() == [
        "podpilot takeover: error: refusing to take over HPA web: only 0 comparable "
        "evaluations of HPA web (at least 1 needed); wait, or use --force"
    ]


def test_a_refusal_whose_message_has_newlines_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = a_takeover()
    refused = {"kind": "Status", "reason": "Forbidden", "message": "denied:\n  by policy\tX"}
    answers["DELETE", HPA_PATH] = (403, as_json(refused))

    status, _ = takeover(tmp_path, answers, "hpa", "web")

    assert status == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        "podpilot takeover: error: cannot delete HorizontalPodAutoscaler shop/web: "
        "Error from server (Forbidden): denied: by policy X"
    ]


def test_undo_with_a_kept_manifest_that_is_not_an_hpa_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keeper = autoscaler(None)
    kept = json.dumps({"metadata": {"name": "web"}, "spec": "x"})
    keeper["metadata"]["annotations"] = {"podpilot.io/hpa-manifest": kept}
    answers = {("GET", AUTOSCALERS_PATH): (200, as_json({"items": [keeper]}))}

    status, seen = takeover(tmp_path, answers, "--undo", "hpa", "web")

    assert (status, writes(seen)) == (EXIT_FAILED, [])
    assert capsys.readouterr().err.splitlines() == [
        "podpilot takeover: error: the manifest of HPA web kept in annotation "
        "podpilot.io/hpa-manifest of Autoscaler shop/web is not an HPA"
    ]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--force"], "--force"),
        (["--threshold", "0.95"], "--threshold"),
        (["--min-evaluations=3", "--force"], "--force, --min-evaluations"),
        (["--threshold", "0.5", "--min-evaluations", "0"], "--threshold, --min-evaluations"),
    ],
)
def test_undo_refuses_the_flags_that_decide_a_takeover(
    capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    assert main(["takeover", "--undo", "hpa", "web", *flags]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot takeover: error: --undo cannot be combined with {named} "
        "(they decide whether to take over)"
    ]


def test_the_tally_flags_keep_their_defaults_in_the_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["takeover", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "agreed with the HPA (default: 0.95)" in help_text
    assert "(default: 20)" in help_text
