"""The operator's stop (``app.lifecycle.stop``) goes on past a controller that fails to stop:
the other controllers stop, and the Lease is handed back."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import kopf
import pytest

from podpilot.app import lifecycle
from podpilot.app.runtime import Runtime
from podpilot.kube.clients import ApiClients
from podpilot.kube.lease import LeaderElector
from podpilot.kube.shards import Shards
from podpilot.settings import OperatorSettings


class Controller:
    def __init__(self, stopped: list[str], name: str, failure: Exception | None = None) -> None:
        self._stopped, self._name, self._failure = stopped, name, failure

    async def stop(self, runtime: Runtime) -> None:
        self._stopped.append(self._name)
        if self._failure is not None:
            raise self._failure


def test_a_controller_that_fails_to_stop_does_not_stop_the_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stopped: list[str] = []
    controllers = {
        "autoscaler": Controller(stopped, "autoscaler"),
        "flannel": Controller(stopped, "flannel", RuntimeError("its reporter had died")),
    }
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: controllers)

    async def scenario() -> bool:
        runtime = Runtime(OperatorSettings())
        leading = asyncio.Event()

        async def lead() -> None:
            try:
                await leading.wait()
            except asyncio.CancelledError:
                stopped.append("leader Lease handed back")
                raise

        runtime.leader_task = asyncio.create_task(lead())
        await asyncio.sleep(0)
        memo = kopf.Memo(runtime=runtime)
        await lifecycle.stop(memo=memo, logger=logging.getLogger("test"))
        return runtime.leader_task.cancelled()

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(scenario())
    assert stopped == ["flannel", "autoscaler", "leader Lease handed back"]
    assert "stopping the flannel controller failed" in caplog.text


class Unanswered:
    """``ApiClients`` at the stop: a write still had no answer after one call's timeout."""

    def __init__(self) -> None:
        self.closed = False

    async def drain(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class Holder:
    def __init__(self) -> None:
        self.expires = False

    def let_expire_on_stop(self) -> None:
        self.expires = True


def test_a_write_unanswered_at_the_stop_leaves_every_lease_to_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "enabled_modules", lambda settings: {})
    runtime = Runtime(OperatorSettings())
    clients, leader, shards = Unanswered(), Holder(), Holder()
    runtime.clients = cast(ApiClients, clients)
    runtime.leader = cast(LeaderElector, leader)
    runtime.shards = cast(Shards, shards)

    asyncio.run(lifecycle.stop(memo=kopf.Memo(runtime=runtime), logger=logging.getLogger("t")))

    assert (leader.expires, shards.expires, clients.closed) == (True, True, True)
