"""The operator's start (``app.lifecycle.start``): a start that fails undoes what it began, so
that kopf's retry starts from nothing; and the credentials are loaded off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import kopf
import pytest
from tests.local_http import serving, write_kubeconfig
from tests.unit.kube.test_lease import CONFIG, fake_apiserver

from podpilot.app import lifecycle
from podpilot.app.runtime import Runtime
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED
from podpilot.kube import clients
from podpilot.kube.clients import bearer_authorization
from podpilot.observability.registry import stop_serving
from podpilot.settings import KubeconfigSelection, LeaderElectionSettings, OperatorSettings
from podpilot_dev.ports import free_port

LOCAL = "127.0.0.1"
LOGGER = logging.getLogger("test")
PLUGIN_SECONDS = 0.5
SLOW_PLUGIN = (
    f"import json, time; time.sleep({PLUGIN_SECONDS}); "
    "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
    "'kind': 'ExecCredential', 'status': {'token': 'from-the-plugin'}}))"
)


def kubeconfig(path: Path, server: str, user: dict[str, Any]) -> KubeconfigSelection:
    return KubeconfigSelection(paths=str(write_kubeconfig(path, server, user)))


class Controller:
    """A controller module whose start fails (its CRD missing, say) until it is told not to."""

    def __init__(self) -> None:
        self.failing = True
        self.seen: list[str] = []

    def configure(self, settings: kopf.OperatorSettings) -> None:
        pass

    async def start(self, runtime: Runtime) -> None:
        if self.failing:
            raise RuntimeError("the Autoscaler CRD is not installed")
        self.seen.append("started")

    async def stop(self, runtime: Runtime) -> None:
        self.seen.append("stopped")


def holders(leases: Any) -> dict[str, str]:
    """The holder of every Lease that decides who acts (the leader's and each shard's)."""
    return {
        name: body["spec"].get("holderIdentity") or ""
        for (_, name), body in leases.objects.items()
        if name == "podpilot-leader" or "-shard-" in name
    }


def test_a_start_failing_after_the_leases_were_taken_undoes_them_and_a_retry_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    controller = Controller()
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: {"autoscaler": controller})
    metrics_port = free_port()

    async def scenario(url: str, leases: Any) -> None:
        settings = OperatorSettings(
            controllers=frozenset({"autoscaler"}),
            kubeconfig=kubeconfig(tmp_path / "config", url, {"token": "t"}),
            metrics_address=LOCAL,
            metrics_port=metrics_port,
            leader_election=LeaderElectionSettings(
                namespace="ops",
                identity="a",
                lease_duration=CONFIG.lease_duration,
                renew_deadline=CONFIG.renew_deadline,
                retry_period=CONFIG.retry_period,
                shards=2,
            ),
        )
        runtime = Runtime(settings)
        memo = kopf.Memo(runtime=runtime)

        with pytest.raises(RuntimeError, match="CRD is not installed"):
            await lifecycle.start(settings=kopf.OperatorSettings(), memo=memo, logger=LOGGER)

        assert asyncio.all_tasks() == {asyncio.current_task()}  # no Lease renewed any more
        assert set(holders(leases).values()) == {""}  # each handed back
        assert (runtime.clients, runtime.leader, runtime.shards) == (None, None, None)
        socket.create_server((LOCAL, metrics_port)).close()  # the /metrics port is free

        controller.failing = False
        await lifecycle.start(settings=kopf.OperatorSettings(), memo=memo, logger=LOGGER)
        assert runtime.leader is not None and runtime.leader.is_leader()
        assert controller.seen == ["stopped", "started"]

        await lifecycle.stop(memo=memo, logger=LOGGER)
        assert runtime.metrics_server is not None
        stop_serving(runtime.metrics_server)

    with fake_apiserver() as (leases, url):
        asyncio.run(scenario(url, leases))


def test_an_exec_credential_plugin_does_not_hold_up_the_event_loop_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: {})
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": ["-c", SLOW_PLUGIN],
    }
    settings = OperatorSettings(
        controllers=frozenset(),
        kubeconfig=kubeconfig(
            tmp_path / "config", f"http://{LOCAL}:{free_port()}", {"exec": plugin}
        ),
        metrics_address=LOCAL,
        metrics_port=free_port(),
        standalone=True,
    )
    runtime = Runtime(settings)
    memo = kopf.Memo(runtime=runtime)

    async def scenario() -> float:
        """The longest the loop was held while the start ran."""
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        await lifecycle.start(settings=kopf.OperatorSettings(), memo=memo, logger=LOGGER)
        await asyncio.sleep(0.05)  # a tick held up by the start lands after it
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        await lifecycle.stop(memo=memo, logger=LOGGER)
        assert runtime.metrics_server is not None
        stop_serving(runtime.metrics_server)
        return max(later - earlier for earlier, later in itertools.pairwise(ticks))

    longest = asyncio.run(scenario())

    assert longest < PLUGIN_SECONDS / 2
    assert runtime.clients is not None  # the plugin ran, and its token is the clients'
    assert bearer_authorization(runtime.clients.kubernetes.configuration) == (
        "Bearer from-the-plugin"
    )


def test_an_exec_credential_plugin_that_never_answers_fails_the_start_within_its_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The kubernetes client waits for an exec plugin without a limit; the start does not: it
    fails with a message naming the cause, and nothing it began is left running."""
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: {})
    monkeypatch.setattr(lifecycle, "CONNECT_TIMEOUT", 0.5)
    hung = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": ["-c", "import time; time.sleep(3)"],
    }
    metrics_port = free_port()
    settings = OperatorSettings(
        controllers=frozenset(),
        kubeconfig=kubeconfig(tmp_path / "config", f"http://{LOCAL}:{free_port()}", {"exec": hung}),
        metrics_address=LOCAL,
        metrics_port=metrics_port,
        standalone=True,
    )
    runtime = Runtime(settings)

    async def scenario() -> float:
        began = time.monotonic()
        with pytest.raises(TimeoutError, match="exec plugin"):
            await lifecycle.start(
                settings=kopf.OperatorSettings(), memo=kopf.Memo(runtime=runtime), logger=LOGGER
            )
        return time.monotonic() - began

    took = asyncio.run(scenario())

    assert took < 2.5  # the plugin would have taken 3 s
    assert runtime.clients is None and runtime.metrics_server is None
    socket.create_server((LOCAL, metrics_port)).close()  # /metrics never took the port


def test_with_namespaces_kopfs_peering_start_waits_for_each_namespaces_kopf_peering(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Leader election off, kopf peering, ``--namespace`` twice: kopf peers on a KopfPeering
    in each namespace, so the start waits for each of those, never the ClusterKopfPeering,
    and acts only once both exist (here: the second appears after a second)."""
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: {})
    peering = "/apis/kopf.dev/v1/namespaces/{}/kopfpeerings/pp"
    found = (200, b'{"apiVersion":"kopf.dev/v1","kind":"KopfPeering"}')
    answers = {peering.format("team-a"): found}

    async def scenario(url: str) -> None:
        settings = OperatorSettings(
            controllers=frozenset(),
            kubeconfig=kubeconfig(tmp_path / "config", url, {"token": "t"}),
            metrics_address=LOCAL,
            metrics_port=free_port(),
            namespaces=("team-a", "team-b"),
            peering_name="pp",
            leader_election=LeaderElectionSettings(enabled=False),
        )
        memo = kopf.Memo(runtime=Runtime(settings))
        starting = asyncio.create_task(
            lifecycle.start(settings=kopf.OperatorSettings(), memo=memo, logger=LOGGER)
        )
        await asyncio.sleep(1.0)
        assert not starting.done()  # team-b's object is missing
        answers[peering.format("team-b")] = found
        async with asyncio.timeout(5):
            await starting
        await lifecycle.stop(memo=memo, logger=LOGGER)
        assert memo.runtime.metrics_server is not None
        stop_serving(memo.runtime.metrics_server)

    with serving(answers) as url:
        asyncio.run(scenario(url))


HUNG_PLUGIN = {
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "command": sys.executable,
    "args": ["-c", "import time; time.sleep(30)"],
}


def test_podpilot_run_with_a_plugin_that_never_answers_ends_in_one_line_with_status_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The credential check before kopf starts runs the plugin with its time limit."""
    monkeypatch.setattr(clients, "EXEC_PLUGIN_TIMEOUT", 0.5)
    server = f"http://{LOCAL}:{free_port()}"
    config = kubeconfig(tmp_path / "config", server, {"exec": HUNG_PLUGIN})
    began = time.monotonic()

    status = main(["run", "--kubeconfig", str(config.paths)])

    assert time.monotonic() - began < 2.5
    assert status == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        "podpilot run: error: cannot load the API credentials: the exec credential plugin "
        f"failed: {sys.executable}: no answer within 0.5 s (stopped)"
    ]


def test_kopfs_login_runs_the_plugin_within_its_bound_and_sends_its_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(clients, "EXEC_PLUGIN_TIMEOUT", 0.5)
    server = f"http://{LOCAL}:{free_port()}"

    def memo(user: dict[str, Any], name: str) -> kopf.Memo:
        settings = OperatorSettings(
            controllers=frozenset(), kubeconfig=kubeconfig(tmp_path / name, server, user)
        )
        return kopf.Memo(runtime=Runtime(settings))

    async def log_in(user: dict[str, Any], name: str) -> Any:
        return await lifecycle.login(
            settings=kopf.OperatorSettings(), logger=LOGGER, memo=memo(user, name)
        )

    async def scenario() -> tuple[float, str]:
        began = time.monotonic()
        with pytest.raises(kopf.LoginError, match=r"no answer within 0\.5 s"):
            await log_in({"exec": HUNG_PLUGIN}, "hung")
        took = time.monotonic() - began
        answering = {**HUNG_PLUGIN, "args": ["-c", SLOW_PLUGIN.replace(str(PLUGIN_SECONDS), "0")]}
        context = await log_in({"exec": answering}, "answering")
        async with context.aiohttp_session as session:
            return took, session.headers["Authorization"]

    took, authorization = asyncio.run(scenario())

    assert took < 2.5
    assert authorization == "Bearer from-the-plugin"
