"""Make kopf's "every index is filled" wait linear in the number of watched objects.

With ``@kopf.index`` handlers, kopf (1.45.2 and earlier) holds back every handler until the
indices hold the initial listing: the watcher adds one toggle per listed object to the
operator-wide ``ToggleSet``, each object's worker drops its toggle once indexed and then waits
on the set's condition. ``make_toggle`` and ``drop_toggle`` call ``notify_all`` every time, so
each of the *n* objects wakes all *n* waiting workers: *n²* wake-ups at start. With 10,000 pods
the operator spent minutes in ``Condition.notify_all`` before its first scan (py-spy), and
50,000 pods would take hours.

A waiter waits for ``is_on() == state``. Adding or dropping a toggle can only satisfy a waiter
when it changes ``is_on()``, so notifying only then is equivalent and linear. While objects are
being indexed the set holds many off toggles, and ``all()`` stops at the first one, so the
check before and after is cheap. Toggles that flip still notify through kopf's own code.

Second, the wait holds memory for nothing. Every listed object's worker waits, holding the
object's parsed body, until every index is filled, even for a resource that only indexes (the
Autoscaler's pods and Deployments): after the wait kopf would run no handler for it. At 2,000
Autoscalers over 6,000 pods, those bodies were the start-up peak that the process never gave
back to the system. For such a resource the object is processed without the wait, and its
readiness toggle dropped once it is indexed, as kopf does before waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    # kopf's private modules are imported only once the release is known to have them, so
    # that a release that moved them leaves the operator running, unpatched.
    from kopf._cogs.aiokits import aiotoggles
    from kopf._core.intents import registries

_PATCHED = "_podpilot_linear_notify"
PATCHED_VERSIONS = ((1, 45), (1, 45))
"""The kopf releases (first and last minor, inclusive) whose private ToggleSet was read for this."""

logger = logging.getLogger(__name__)


async def _make_toggle(
    self: aiotoggles.ToggleSet, __val: bool = False, *, name: str | None = None
) -> aiotoggles.Toggle:
    from kopf._cogs.aiokits.aiotoggles import Toggle

    toggle = Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def _drop_toggles(self: aiotoggles.ToggleSet, toggles: Iterable[aiotoggles.Toggle]) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.difference_update(toggles)
        if self.is_on() != before:
            self._condition.notify_all()


async def _drop_toggle(self: aiotoggles.ToggleSet, toggle: aiotoggles.Toggle) -> None:
    await _drop_toggles(self, [toggle])


def _runs_handlers_after_indexing(registry: registries.OperatorRegistry, resource: Any) -> bool:
    return bool(
        registry._watching.has_handlers(resource=resource)
        or registry._spawning.has_handlers(resource=resource)
        or registry._changing.has_handlers(resource=resource)
    )


def _without_needless_wait(original: Any) -> Any:
    async def process_resource_event(
        *,
        registry: registries.OperatorRegistry,
        resource: Any,
        operator_indexed: aiotoggles.ToggleSet | None = None,
        resource_indexed: aiotoggles.Toggle | None = None,
        **kwargs: Any,
    ) -> str | None:
        if operator_indexed is None or _runs_handlers_after_indexing(registry, resource):
            return cast(
                "str | None",
                await original(
                    registry=registry,
                    resource=resource,
                    operator_indexed=operator_indexed,
                    resource_indexed=resource_indexed,
                    **kwargs,
                ),
            )
        version = await original(registry=registry, resource=resource, **kwargs)
        if resource_indexed is not None:
            await operator_indexed.drop_toggle(resource_indexed)
        return cast("str | None", version)

    setattr(process_resource_event, _PATCHED, True)
    return process_resource_event


def applies_to(version: str) -> bool:
    """Whether ``version`` of kopf has the ToggleSet internals this module was written against."""
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    first, last = PATCHED_VERSIONS
    return first <= major_minor <= last


def install() -> None:
    """Replace the three ``ToggleSet`` methods and wrap kopf's event processor (idempotent).

    Other kopf releases are left alone: their internals may differ, and a release that fixes
    the wake-ups itself needs nothing from here.
    """
    version = metadata.version("kopf")
    if not applies_to(version):
        logger.info("kopf %s: index readiness left as kopf implements it", version)
        return
    from kopf._cogs.aiokits import aiotoggles
    from kopf._core.reactor import processing

    cls: Any = aiotoggles.ToggleSet
    if getattr(cls, _PATCHED, False):
        return
    cls.make_toggle = _make_toggle
    cls.drop_toggle = _drop_toggle
    cls.drop_toggles = _drop_toggles
    setattr(cls, _PATCHED, True)
    if not getattr(processing.process_resource_event, _PATCHED, False):
        processing.process_resource_event = _without_needless_wait(
            processing.process_resource_event
        )
