"""In a pod, the CLI connects and defaults ``-n`` as kubectl does there: with the ServiceAccount
when no kubeconfig is found, in the pod's namespace ($POD_NAMESPACE, else the ServiceAccount's
``namespace`` file). The ServiceAccount is faked through the clients' mount-point constant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.local_http import serving
from tests.unit.commands.test_kubectl_habits import autoscaler

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED
from podpilot.kube import clients
from podpilot_dev import pki

AUTOSCALER_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/shop/autoscalers/web"
EMPTY_LIST_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/team-a/autoscalers"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def in_a_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certificates: pki.Pki
) -> Iterator[tuple[str, list[str | None]]]:
    """A pod whose ServiceAccount (namespace ``shop``) reaches an apiserver stand-in over TLS;
    no $KUBECONFIG, no ~/.kube/config. Yields the stand-in's URL and the tokens it was sent."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("pod-token", encoding="utf-8")
    (directory / "ca.crt").write_bytes(certificates.ca_cert.read_bytes())
    (directory / "namespace").write_text("shop", encoding="utf-8")
    monkeypatch.setattr(clients, "SERVICE_ACCOUNT_DIRECTORY", directory)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    seen: list[str | None] = []
    answers = {
        AUTOSCALER_PATH: (200, json.dumps(autoscaler("shop", "web")).encode()),
        EMPTY_LIST_PATH: (200, b'{"kind": "AutoscalerList", "items": []}'),
    }
    tls = (certificates.cert("serving"), certificates.key("serving"))
    with serving(answers, seen=seen, tls=tls) as url:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", url.rsplit(":", 1)[1])
        yield url, seen


def test_explain_reads_the_pods_namespace_with_its_service_account(
    in_a_pod: tuple[str, list[str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, seen = in_a_pod

    assert main(["explain", "web"]) == 0

    assert capsys.readouterr().out.startswith("Autoscaler web -> Deployment/web")
    assert seen == ["Bearer pod-token"]


def test_takeover_reads_the_pods_namespace(
    in_a_pod: tuple[str, list[str | None]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["takeover", "hpa", "web"]) == EXIT_FAILED

    (line,) = capsys.readouterr().err.splitlines()
    assert line == "podpilot takeover: error: HorizontalPodAutoscaler shop/web not found"


def test_the_pod_namespace_variable_comes_before_the_file(
    in_a_pod: tuple[str, list[str | None]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "team-a")

    assert main(["explain"]) == 0

    assert capsys.readouterr().err == "No resources found in team-a namespace.\n"
