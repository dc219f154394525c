"""A loop resumed from a stored status: an Autoscaler last recorded Active counts as active
until now, so a restart can delay scaling to zero, never hasten it."""

from __future__ import annotations

from podpilot.autoscaler.controller.loop import AutoscalerLoop

NOW = 10_000.0


def test_a_restart_while_active_restarts_the_cooldown() -> None:
    active = {
        "conditions": [{"type": "Active", "status": "True"}],
        "lastActiveTime": "2020-01-01T00:00:00Z",
    }
    assert AutoscalerLoop.resume("ns", "a", active, NOW).memory.last_active == NOW
    idle = {
        "conditions": [{"type": "Active", "status": "False"}],
        "lastActiveTime": "1970-01-01T01:00:00Z",
    }
    assert AutoscalerLoop.resume("ns", "a", idle, NOW).memory.last_active == 3600.0
