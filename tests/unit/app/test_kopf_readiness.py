"""The linear readiness notification keeps kopf's ToggleSet semantics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from kopf._cogs.aiokits import aiotoggles

from podpilot.app import kopf_readiness


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


class Handlers:
    def __init__(self, present: bool) -> None:
        self.present = present

    def has_handlers(self, resource: object) -> bool:
        return self.present


class Registry:
    def __init__(self, *, spawning: bool) -> None:
        self._watching = Handlers(False)
        self._changing = Handlers(False)
        self._spawning = Handlers(spawning)


def process_with(registry: Registry) -> tuple[dict[str, object], bool]:
    """Run the wrapped processor with an operator-wide readiness set of one object; returns
    what kopf's own processor received and whether the set was ready when it returned."""
    received: dict[str, object] = {}

    async def original(**kwargs: object) -> str:
        received.update(kwargs)
        return "42"

    wrapped = kopf_readiness._without_needless_wait(original)

    async def scenario() -> bool:
        ready = aiotoggles.ToggleSet(all)
        toggle = await ready.make_toggle(name="pod")
        version = await wrapped(
            registry=registry,
            resource="pods",
            operator_indexed=ready,
            resource_indexed=toggle,
            raw_event={},
        )
        assert version == "42"
        return ready.is_on()

    return received, asyncio.run(scenario())


def test_an_index_only_resource_is_processed_without_waiting_and_marked_indexed() -> None:
    received, ready = process_with(Registry(spawning=False))
    assert "operator_indexed" not in received and "resource_indexed" not in received
    assert ready  # its toggle was dropped once the processor (indexing) returned


def test_a_resource_with_other_handlers_keeps_kopfs_wait() -> None:
    received, ready = process_with(Registry(spawning=True))
    assert received["operator_indexed"] is not None and received["resource_indexed"] is not None
    assert not ready  # kopf's own processor drops the toggle; the stand-in here does not


def test_a_kopf_release_without_the_private_modules_runs_unpatched(tmp_path: Path) -> None:
    """A later kopf that moved its private modules: the gate leaves it alone instead of the
    import failing and the operator with it."""
    (tmp_path / "kopf").mkdir()
    (tmp_path / "kopf" / "__init__.py").write_text("")
    (tmp_path / "kopf-9.0.dist-info").mkdir()
    (tmp_path / "kopf-9.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kopf\nVersion: 9.0\n"
    )
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
        "from podpilot.app import kopf_readiness\n"
        "kopf_readiness.install()\n"
    )
    operator_root = Path(kopf_readiness.__file__).parents[2]
    environment = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{operator_root}"}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout == "kopf 9.0: index readiness left as kopf implements it\n"
