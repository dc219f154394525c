"""The linear readiness notification keeps kopf's ToggleSet semantics."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits import aiotoggles

from podpilot.handlers import kopf_readiness


def test_waiters_are_released_when_the_last_toggle_is_dropped() -> None:
    kopf_readiness.install()

    async def scenario() -> tuple[bool, bool]:
        ready = aiotoggles.ToggleSet(all)
        toggles = [await ready.make_toggle(name=str(i)) for i in range(200)]
        waiters = [asyncio.create_task(ready.wait_for(True)) for _ in range(50)]
        for toggle in toggles[:-1]:
            await ready.drop_toggle(toggle)
        await asyncio.sleep(0)
        early = any(w.done() for w in waiters)
        await ready.drop_toggle(toggles[-1])
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
        return early, ready.is_on()

    early, on = asyncio.run(scenario())
    assert not early
    assert on


def test_adding_an_off_toggle_to_a_ready_set_releases_waiters_for_off() -> None:
    kopf_readiness.install()

    async def scenario() -> bool:
        ready = aiotoggles.ToggleSet(all)
        waiter = asyncio.create_task(ready.wait_for(False))
        await asyncio.sleep(0)
        toggle = await ready.make_toggle(name="late")
        await asyncio.wait_for(waiter, timeout=5)
        await ready.drop_toggles([toggle])
        return ready.is_on()

    assert asyncio.run(scenario())


def test_install_is_idempotent() -> None:
    kopf_readiness.install()
    method = aiotoggles.ToggleSet.make_toggle
    kopf_readiness.install()
    assert aiotoggles.ToggleSet.make_toggle is method


def test_only_the_kopf_releases_it_was_written_against_are_patched() -> None:
    assert kopf_readiness.applies_to("1.45.2")
    assert kopf_readiness.applies_to("1.45.0")
    assert not kopf_readiness.applies_to("1.46.0")
    assert not kopf_readiness.applies_to("2.0")
    assert not kopf_readiness.applies_to("1.44.9")
    assert not kopf_readiness.applies_to("dev")
