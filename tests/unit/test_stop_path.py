"""The operator's stop (``app.lifecycle.stop``) goes on past a controller that fails to stop:
the other controllers stop, and the Lease is handed back."""

from __future__ import annotations

import asyncio
import logging

import kopf
import pytest

from podpilot.app import lifecycle
from podpilot.app.runtime import Runtime
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
