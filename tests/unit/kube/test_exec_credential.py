"""A kubeconfig's exec credential plugin, run by one credential for both clients: within a time
limit, once for several callers, its token kept until it expires or is refused. The plugin is
a real process (``sys.executable -c``) steered by files in a state directory; the apiserver is
a real local server that answers 401 unless the request carries the token it expects now."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from tests.local_http import serving

from podpilot.kube import clients as clients_module
from podpilot.kube.clients import ApiClients, connect, no_answer
from podpilot.kube.exec_credential import REFRESH_BEFORE_EXPIRY, ExecCredential
from podpilot.kube.exec_plugin import ExecPlugin, ExecPluginError

from .test_token_rotation import ANSWERS, GROUP, Clock, namespace_name

API_VERSION = "client.authentication.k8s.io/v1beta1"
# Records its pid, its environment and KUBERNETES_EXEC_INFO; sleeps while `hang` exists, fails
# while `fail` exists; prints token-<n> for its n-th run, with the expiry in `expiry` if any.
PLUGIN = """
import json, os, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
with (state / "runs").open("a") as runs:
    runs.write(f"{os.getpid()}\\n")
(state / "seen.json").write_text(json.dumps(
    {"argv": sys.argv[2:], "greeting": os.environ.get("GREETING"),
     "info": json.loads(os.environ["KUBERNETES_EXEC_INFO"])}))
if (state / "hang").exists():
    time.sleep(30)
if (state / "fail").exists():
    sys.exit("the identity provider is down")
status = {"token": f"token-{len((state / 'runs').read_text().split())}"}
if (state / "expiry").exists():
    status["expirationTimestamp"] = (state / "expiry").read_text()
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                  "kind": "ExecCredential", "status": status}))
"""
TIMEOUT = 1.0


def exec_section(state: Path) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "command": sys.executable,
        "args": ["-c", PLUGIN, str(state), "--region", "eu"],
        "env": [{"name": "GREETING", "value": "hello"}],
        "provideClusterInfo": True,
    }


def plugin_kubeconfig(path: Path, server: str, state: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "exec",
        "clusters": [{"name": "exec", "cluster": {"server": server}}],
        "users": [{"name": "exec", "user": {"exec": exec_section(state)}}],
        "contexts": [{"name": "exec", "context": {"cluster": "exec", "user": "exec"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def runs(state: Path) -> list[int]:
    """The pid of each run of the plugin so far."""
    path = state / "runs"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "plugin"
    directory.mkdir()
    return directory


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients_module, "EXEC_PLUGIN_TIMEOUT", TIMEOUT)


class Apiserver:
    """The token the local apiserver accepts now, and each request's Authorization header."""

    def __init__(self) -> None:
        self.token = "token-1"
        self.seen: list[str | None] = []

    def authorization(self) -> str:
        return f"Bearer {self.token}"


def pykube_status(clients: ApiClients) -> int:
    return int(clients.pykube.get(version=f"/apis/{GROUP}").status_code)


def test_a_hung_plugin_fails_concurrent_calls_within_its_bound_and_runs_once_for_them(
    tmp_path: Path, state: Path
) -> None:
    apiserver = Apiserver()
    with serving(ANSWERS, authorization=apiserver.authorization, seen=apiserver.seen) as url:
        clients = connect(str(plugin_kubeconfig(tmp_path / "config", url, state)))
        try:
            assert namespace_name(clients) == "default"
            # The token is revoked while the identity provider is unreachable.
            (state / "hang").touch()
            apiserver.token = "token-2"
            with pytest.raises(kubernetes.client.ApiException) as refused:
                namespace_name(clients)
            assert refused.value.status == 401

            async def four_reads() -> list[BaseException | str]:
                reads = [clients.call(namespace_name, clients) for _ in range(4)]
                return await asyncio.gather(*reads, return_exceptions=True)

            began = time.monotonic()
            outcomes = asyncio.run(four_reads())
            took = time.monotonic() - began
        finally:
            clients.close()

    assert took < TIMEOUT + 1.5  # the plugin would sleep 30 s
    assert len(runs(state)) == 2  # the first token's run, and one for the four reads
    for outcome in outcomes:
        assert isinstance(outcome, ExecPluginError)
        assert f"plugin failed: {sys.executable}: no answer within {TIMEOUT:g} s" in str(outcome)
        assert no_answer(outcome, clients.server, clients.timeouts).startswith(
            f"no credentials for the API server at {url}: the exec credential plugin failed: "
        )
    hung = runs(state)[-1]
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            os.kill(hung, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the hung plugin was not killed")
    assert apiserver.seen == ["Bearer token-1"] * 2  # no request went out without a token


def test_pykube_and_the_kubernetes_client_send_the_plugins_token_from_one_run(
    tmp_path: Path, state: Path
) -> None:
    apiserver = Apiserver()
    with serving(ANSWERS, authorization=apiserver.authorization, seen=apiserver.seen) as url:
        clients = connect(str(plugin_kubeconfig(tmp_path / "config", url, state)))
        try:
            statuses = [pykube_status(clients) for _ in range(3)]
            assert namespace_name(clients) == "default"
            assert (statuses, len(runs(state))) == ([200] * 3, 1)
            assert apiserver.seen == ["Bearer token-1"] * 4

            # A token without expiry is used until it is refused: then the plugin runs again.
            apiserver.token = "token-2"
            apiserver.seen.clear()
            statuses = [pykube_status(clients) for _ in range(3)]
            assert namespace_name(clients) == "default"
        finally:
            clients.close()

    assert statuses == [401, 200, 200]
    assert apiserver.seen == ["Bearer token-1"] + ["Bearer token-2"] * 3
    assert len(runs(state)) == 2


def test_the_plugin_gets_its_args_env_and_exec_info_as_from_the_kubernetes_client(
    state: Path,
) -> None:
    extension = {"audience": "podpilot"}
    cluster = {
        "server": "https://example.invalid",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": extension}],
    }
    plugin = ExecPlugin.from_config(exec_section(state), cluster)

    assert plugin.run(5.0)["token"] == "token-1"

    seen = json.loads((state / "seen.json").read_text())
    assert seen["argv"] == ["--region", "eu"]
    assert seen["greeting"] == "hello"
    assert seen["info"] == {
        "apiVersion": API_VERSION,
        "kind": "ExecCredential",
        "spec": {
            "interactive": False,
            "cluster": {**cluster, "config": extension},
        },
    }


def test_a_token_is_reused_until_it_expires_then_the_plugin_runs_again(state: Path) -> None:
    clock = Clock()
    clock.now = time.time()
    start = clock.now
    plugin = ExecPlugin.from_config(exec_section(state), {})
    (state / "expiry").write_text(rfc3339(start + 600))
    credential = ExecCredential(plugin, plugin.run(5.0), timeout=5.0, clock=clock)

    assert [credential.current() for _ in range(3)] == ["token-1"] * 3
    clock.now = start + 500
    assert credential.current() == "token-1"
    assert len(runs(state)) == 1

    clock.now = start + 601
    (state / "expiry").write_text(rfc3339(start + 1200))
    assert credential.authorization() == "Bearer token-2"
    assert len(runs(state)) == 2

    # Shortly before the expiry the old token is still sent while a run refreshes it.
    clock.now = start + 1200 - REFRESH_BEFORE_EXPIRY / 2
    (state / "expiry").write_text(rfc3339(start + 1800))
    assert credential.current() == "token-2"
    deadline = time.monotonic() + 5.0
    while credential.current() != "token-3" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert credential.current() == "token-3"
    assert len(runs(state)) == 3


def test_a_refresh_that_fails_keeps_the_valid_token_and_one_after_expiry_fails(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    clock.now = time.time()
    start = clock.now
    plugin = ExecPlugin.from_config(exec_section(state), {})
    (state / "expiry").write_text(rfc3339(start + 600))
    credential = ExecCredential(plugin, plugin.run(5.0), timeout=5.0, clock=clock)
    (state / "fail").touch()

    clock.now = start + 600 - REFRESH_BEFORE_EXPIRY / 2
    assert credential.current() == "token-1"
    deadline = time.monotonic() + 5.0
    while not caplog.records and time.monotonic() < deadline:  # until the run has failed
        time.sleep(0.02)
    assert "the identity provider is down; the current token is used" in caplog.text
    assert credential.current() == "token-1"  # not run again at once
    assert len(runs(state)) == 2

    clock.now = start + 601
    with pytest.raises(
        ExecPluginError, match=r"process returned 1\. the identity provider is down"
    ):
        credential.current()
    assert len(runs(state)) == 3


def test_a_plugins_client_certificate_from_one_run_is_kept_by_both_clients(
    tmp_path: Path,
) -> None:
    """Certificates are not this credential's: both clients get the first run's (as the
    kubernetes client keeps it when it runs the plugin itself), and pykube never runs the
    plugin on its own, without a time limit."""
    certificate = (
        "import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
        "'kind': 'ExecCredential', 'status': {'clientCertificateData': 'CERT PEM', "
        "'clientKeyData': 'KEY PEM'}}))"
    )
    config = plugin_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", tmp_path)
    document = yaml.safe_load(config.read_text())
    document["users"][0]["user"]["exec"]["args"] = ["-c", certificate]
    config.write_text(yaml.safe_dump(document))
    configuration = kubernetes.client.Configuration()

    pykube_config, token = clients_module.load_credentials(str(config), configuration)

    assert token is None
    assert Path(configuration.cert_file).read_text() == "CERT PEM"
    assert Path(configuration.key_file).read_text() == "KEY PEM"
    assert "exec" not in pykube_config.user
    assert pykube_config.user["client-certificate"].bytes() == b"CERT PEM"
    assert pykube_config.user["client-key"].bytes() == b"KEY PEM"


def test_a_run_whose_thread_cannot_start_is_not_waited_for_by_later_callers(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    clock.now = start = time.time()
    plugin = ExecPlugin.from_config(exec_section(state), {})
    (state / "expiry").write_text(rfc3339(start + 600))
    credential = ExecCredential(plugin, plugin.run(5.0), timeout=5.0, clock=clock)
    starting = threading.Thread.start

    def no_thread(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    clock.now = start + 600 - REFRESH_BEFORE_EXPIRY / 2  # due for a refresh, still valid
    assert credential.current() == "token-1"
    clock.now = start + 601  # expired: the failure is the caller's, at once
    began = time.monotonic()
    with pytest.raises(ExecPluginError, match="could not be started: can't start new thread"):
        credential.current()
    assert time.monotonic() - began < 1

    monkeypatch.setattr(threading.Thread, "start", starting)
    (state / "expiry").write_text(rfc3339(start + 1200))
    assert credential.current() == "token-2"  # a new run, not the one that never began
