"""A kubeconfig user whose exec credential plugin fails: the official client only logs it (on
the root logger, which it configures to stderr if nobody did) and goes on without credentials.
podpilot makes it one line and exit status 1, before any call, with no stray log line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import kubernetes
import pytest
from tests.local_http import write_kubeconfig

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED
from podpilot.kube.clients import CredentialsError, load_credentials
from podpilot.settings import KubeconfigSelection
from podpilot_dev.ports import free_port

PLUGIN_FAILS = "import sys; print('token expired: log in again', file=sys.stderr); sys.exit(1)"
PLUGIN_SAYS_NOTHING = "print('{}')"
PLUGIN_GIVES_NO_TOKEN = (
    "import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
    "'kind': 'ExecCredential', 'status': {}}))"
)


def exec_kubeconfig(path: Path, program: str) -> Path:
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": ["-c", program],
    }
    return write_kubeconfig(path, f"http://127.0.0.1:{free_port()}", {"exec": plugin})


@pytest.mark.parametrize(
    ("program", "said"),
    [
        (PLUGIN_FAILS, "process returned 1. token expired: log in again"),
        (PLUGIN_SAYS_NOTHING, "malformed response. missing key 'apiVersion'"),
        (PLUGIN_GIVES_NO_TOKEN, "missing token or clientCertificateData field in plugin output"),
    ],
    ids=["exits-1", "answers-no-credential", "gives-no-token"],
)
def test_a_failing_exec_plugin_is_one_line_and_exit_status_1(
    program: str,
    said: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = exec_kubeconfig(tmp_path / "config", program)

    status = main(["explain", "web", "--kubeconfig", str(config)])

    captured = capsys.readouterr()
    assert (status, captured.out) == (EXIT_FAILED, "")
    (line,) = captured.err.splitlines()
    prefix = "podpilot explain: error: cannot load the API credentials: the exec credential plugin"
    assert line.startswith(f"{prefix} failed: ")
    assert said in line
    assert caplog.records == []


def test_the_client_cannot_configure_logging_to_stderr_on_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no handler on the root logger, the client's ``logging.error`` would add one."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    config = exec_kubeconfig(tmp_path / "config", PLUGIN_FAILS)

    with pytest.raises(CredentialsError, match="the exec credential plugin failed"):
        load_credentials(KubeconfigSelection(paths=str(config)), kubernetes.client.Configuration())

    assert root.handlers == []
    assert root.filters == []
