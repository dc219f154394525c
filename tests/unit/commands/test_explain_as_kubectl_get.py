"""``explain`` words what it reads as ``kubectl get`` does: the API server's refusal in
kubectl's words, an empty list as ``No resources found`` (exit 0) or an empty ``List``, and
``-o name``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiException
from tests.local_http import serving
from tests.unit.commands.test_kubectl_habits import autoscaler, kubeconfig

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import main
from podpilot.commands.api_errors import api_failure, server_error
from podpilot.commands.conventions import EXIT_FAILED, EXIT_NO_ANSWER, EXIT_OK
from podpilot.kube.clients import Timeouts

AUTOSCALERS = f"/apis/{GROUP}/{VERSION}"
NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": f'autoscalers.{GROUP} "web" not found',
    "reason": "NotFound",
    "details": {"name": "web", "group": GROUP, "kind": "autoscalers"},
    "code": 404,
}


def listing(*items: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps({"kind": "AutoscalerList", "items": list(items)}).encode()


def explain(
    argv: list[str], answers: dict[str, tuple[int, bytes]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:  # fmt: skip
    with serving(answers) as url:
        config = kubeconfig(tmp_path / "config", {"c": (url, "team-a")}, "c")
        status = main(["explain", *argv, "--kubeconfig", str(config)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- the API server's refusal ---------------------------------------------------------------


def test_a_refusal_is_the_servers_message_as_kubectl_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {
        f"{AUTOSCALERS}/namespaces/team-a/autoscalers/web": (404, json.dumps(NOT_FOUND).encode())
    }

    status, out, err = explain(["web"], answers, tmp_path, capsys)

    assert (status, out) == (EXIT_FAILED, "")
    assert err.splitlines() == [
        f"podpilot explain: error: Error from server (NotFound): {NOT_FOUND['message']}"
    ]
    assert NOT_FOUND["message"] == 'autoscalers.podpilot.io "web" not found'


def error(status: int, reason: str, body: object) -> ApiException:
    failure = ApiException(status=status, reason=reason)
    failure.body = body if isinstance(body, str | None) else json.dumps(body)
    return failure


FORBIDDEN = {"reason": "Forbidden", "message": 'autoscalers is forbidden: User "x"'}


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            error(403, "Forbidden", FORBIDDEN),
            'Error from server (Forbidden): autoscalers is forbidden: User "x"',
        ),
        (
            error(404, "Not Found", "<html>not found</html>"),
            "Error from server (NotFound): Not Found",
        ),
        (
            error(500, "Internal Server Error", None),
            "Error from server (InternalServerError): Internal Server Error",
        ),
        (
            error(422, "Unprocessable Entity", {"message": "spec.x: Invalid"}),
            "Error from server (UnprocessableEntity): spec.x: Invalid",
        ),
    ],
    ids=["status", "no-status", "no-body", "status-without-reason"],
)
def test_server_error_words_any_refusal_as_kubectl(failure: ApiException, said: str) -> None:
    assert server_error(failure) == said


class Clients:
    """What an API failure reads of the clients: the server's URL and the timeouts."""

    server = "https://127.0.0.1:6443"
    timeouts = Timeouts.reading(2.0)


CLIENTS: Any = Clients()


def test_takeover_and_explain_share_the_wording() -> None:
    """takeover names the call it made before the server's words; explain makes one call."""
    failure = error(403, "Forbidden", {"reason": "Forbidden", "message": "no"})

    named = api_failure(failure, CLIENTS, "delete HorizontalPodAutoscaler shop/web")
    bare = api_failure(failure, CLIENTS)

    assert (str(named), named.exit_status) == (
        "cannot delete HorizontalPodAutoscaler shop/web: Error from server (Forbidden): no",
        EXIT_FAILED,
    )
    assert str(bare) == "Error from server (Forbidden): no"
    unanswered = api_failure(error(0, "TLS handshake failed", None), CLIENTS)
    assert (str(unanswered), unanswered.exit_status) == (
        "the API server at https://127.0.0.1:6443: TLS handshake failed",
        EXIT_NO_ANSWER,
    )


# --- an empty list --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "path", "said"),
    [
        ([], "namespaces/team-a/autoscalers", "No resources found in team-a namespace."),
        (
            ["-n", "shop", "-o", "wide"],
            "namespaces/shop/autoscalers",
            "No resources found in shop namespace.",
        ),
        (["-A"], "autoscalers", "No resources found"),
    ],
    ids=["context-namespace", "wide", "all-namespaces"],
)
def test_no_autoscaler_is_no_resources_found_on_stderr_and_success(
    argv: list[str], path: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = explain(argv, {f"{AUTOSCALERS}/{path}": listing()}, tmp_path, capsys)

    assert (status, out, err) == (EXIT_OK, "", f"{said}\n")


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_no_autoscaler_is_an_empty_list_in_json_and_yaml(
    output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = f"{AUTOSCALERS}/namespaces/team-a/autoscalers"

    status, out, err = explain(["-o", output], {path: listing()}, tmp_path, capsys)

    assert (status, err) == (EXIT_OK, "")
    shown = json.loads(out) if output == "json" else yaml.safe_load(out)
    assert shown == {"apiVersion": "v1", "kind": "List", "items": [], "metadata": {}}


# --- -o name --------------------------------------------------------------------------------


def test_output_name_is_one_kind_group_name_line_per_autoscaler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = (autoscaler("team-a", "web"), autoscaler("team-b", "api"))
    answers = {
        f"{AUTOSCALERS}/autoscalers": listing(*items),
        f"{AUTOSCALERS}/namespaces/team-a/autoscalers/web": (200, json.dumps(items[0]).encode()),
        f"{AUTOSCALERS}/namespaces/team-a/autoscalers": listing(),
    }

    every = explain(["-A", "-o", "name"], answers, tmp_path, capsys)
    one = explain(["web", "-o", "name"], answers, tmp_path, capsys)
    none = explain(["-o", "name"], answers, tmp_path, capsys)

    assert every == (EXIT_OK, f"autoscaler.{GROUP}/web\nautoscaler.{GROUP}/api\n", "")
    assert one == (EXIT_OK, f"autoscaler.{GROUP}/web\n", "")
    assert none == (EXIT_OK, "", "")


def test_convert_output_name_names_each_autoscaler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpas = [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "maxReplicas": 3,
            },
        }
        for name in ("web", "api")
    ]
    file = tmp_path / "hpas.yaml"
    file.write_text(yaml.safe_dump_all(hpas), encoding="utf-8")

    assert main(["convert", str(file), "-o", "name"]) == EXIT_OK
    assert capsys.readouterr().out == f"autoscaler.{GROUP}/web\nautoscaler.{GROUP}/api\n"
