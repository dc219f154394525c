"""``podpilot explain`` against a local stand-in apiserver: a valid Autoscaler with only the
fields the CRD requires is explained, and an answer that is not Autoscalers (not UTF-8, not
JSON, not an object) is one line and exit status 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.local_http import serving
from tests.unit.commands.test_kubectl_habits import autoscaler, kubeconfig

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK

NAMESPACED = f"/apis/{GROUP}/{VERSION}/namespaces/shop/autoscalers"


def explain(
    argv: list[str], answers: dict[str, tuple[int, bytes]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:  # fmt: skip
    with serving(answers) as url:
        config = kubeconfig(tmp_path / "config", {"c": (url, "shop")}, "c")
        status = main(["explain", *argv, "--kubeconfig", str(config)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_condition_with_only_type_and_status_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = autoscaler("shop", "web")
    found["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    answers = {f"{NAMESPACED}/web": (200, json.dumps(found).encode())}

    status, out, err = explain(["web"], answers, tmp_path, capsys)

    assert (status, err) == (EXIT_OK, "")
    assert "  Ready=True: " in out.splitlines()


@pytest.mark.parametrize("output", ["text", "wide"])
def test_metadata_and_status_of_another_type_are_shown_as_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    found = {**autoscaler("shop", "web"), "metadata": "web"}
    found["status"] = {**found["status"], "lastDecision": ["not", "an", "object"]}
    answers = {NAMESPACED: (200, json.dumps({"items": [found, {"status": "x"}]}).encode())}

    status, out, err = explain(["-o", output], answers, tmp_path, capsys)

    assert (status, err) == (EXIT_OK, "")
    assert out


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"kind": "Autoscaler", "metadata": {"name": "w\xffb"}}', "not UTF-8"),
        (b"<html><body>Sign in</body></html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
    ],
    ids=["not-utf-8", "a-login-page", "an-array"],
)
@pytest.mark.parametrize(
    ("argv", "path", "reference"),
    [
        (["web"], f"{NAMESPACED}/web", "Autoscaler shop/web"),
        ([], NAMESPACED, "the Autoscalers"),
    ],
    ids=["named", "listed"],
)
def test_an_answer_that_is_not_autoscalers_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    body: bytes, problem: str, argv: list[str], path: str, reference: str,
) -> None:  # fmt: skip
    status, out, err = explain(argv, {path: (200, body)}, tmp_path, capsys)

    assert (status, out) == (EXIT_FAILED, "")
    assert err.splitlines() == [
        f"podpilot explain: error: unexpected answer for {reference} ({problem})"
    ]


def test_a_list_whose_items_are_not_a_list_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {NAMESPACED: (200, b'{"kind": "AutoscalerList", "items": 5}')}

    status, _, err = explain([], answers, tmp_path, capsys)

    assert status == EXIT_FAILED
    assert err.splitlines() == [
        "podpilot explain: error: unexpected answer for the Autoscalers (its items are not a list)"
    ]


def test_a_nan_the_client_read_is_one_line_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {f"{NAMESPACED}/web": (200, b'{"metadata": {"name": "web"}, "spec": {"x": NaN}}')}

    status, out, err = explain(["web", "-o", "json"], answers, tmp_path, capsys)

    assert (status, out) == (EXIT_FAILED, "")
    assert err.splitlines() == [
        "podpilot explain: error: unexpected answer for Autoscaler shop/web "
        "(a NaN or an infinity, which JSON has no form for)"
    ]


def test_names_of_autoscalers_whose_metadata_is_not_an_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [{**autoscaler("shop", "web"), "metadata": "web"}, autoscaler("shop", "api")]
    answers = {NAMESPACED: (200, json.dumps({"items": items}).encode())}

    status, out, err = explain(["-o", "name"], answers, tmp_path, capsys)

    assert (status, err) == (EXIT_OK, "")
    assert out.splitlines() == [f"autoscaler.{GROUP}/", f"autoscaler.{GROUP}/api"]
