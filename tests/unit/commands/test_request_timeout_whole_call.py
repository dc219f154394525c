"""``--request-timeout`` bounds a call as a whole, as kubectl's does: an API server on
127.0.0.1 that sends its answer a byte every 0.2 s (each byte well within any read timeout,
the whole far beyond the request timeout) ends the command at the timeout, in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.unit.autoscaler.sources.trickling_server import Trickler, http_answer, trickling
from tests.unit.conftest import write_kubeconfig

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_NO_ANSWER

AUTOSCALER = b'{"apiVersion": "podpilot.io/v1alpha1", "kind": "Autoscaler"}'


@pytest.mark.parametrize("trickled", ["headers", "body"])
def test_a_trickling_answer_ends_explain_at_the_request_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trickled: str
) -> None:
    answer = http_answer(AUTOSCALER)
    at_once = len(answer) - len(AUTOSCALER) if trickled == "body" else 0
    with trickling(Trickler(answer, at_once=at_once)) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url)
        started = time.monotonic()
        code = main(
            ["explain", "-n", "ns", "web", f"--kubeconfig={kubeconfig}", "--request-timeout=1"]
        )
        seconds = time.monotonic() - started
    assert code == EXIT_NO_ANSWER
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot explain: error: the API server at {server.url} did not answer within 1 s"
    ]
    assert seconds < 2.5
