"""A decision that is not NoChange is logged with the readings it rests on."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.unit.autoscaler.controller.test_shadow_loop import (
    Statuses,
    controller_for,
    evaluate,
    world,
)

from podpilot.autoscaler.api.result import Action
from podpilot.autoscaler.controller.loop import AutoscalerLoop
from podpilot.autoscaler.policy.plan import Memory


def test_a_rescale_is_logged_with_its_readings(caplog: pytest.LogCaptureFixture) -> None:
    watched, scale, services = world(replicas=2, usage=100)  # 100% of a 50% target: 4
    controller = controller_for(services, Statuses())
    caplog.set_level(logging.INFO)

    async def scenario() -> Action:
        result = await evaluate(
            AutoscalerLoop("shop", "web", Memory(None)), controller, watched, {}
        )
        await controller.status.close()
        return result.action

    assert asyncio.run(scenario()) is Action.RESCALED
    assert scale.patches == [4]
    assert (
        "shop/web: scaled 2 -> 4 (cpu resource utilization (percentage of request) above target)"
        " [cpu: 100%/50%]"
    ) in caplog.messages
