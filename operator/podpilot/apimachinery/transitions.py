"""What changed between two observations of keyed levels: the core of "Events only on change".

A feature keeps, per key (a finding on an object), the level it last announced (a severity).
Comparing that with the current levels gives the keys that appeared, those whose level changed
and those that cleared; each feature adds its own policy on top (rate limits, keys never
announced, Events for cleared keys or not).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
L = TypeVar("L")


@dataclass(frozen=True)
class LevelChanges(Generic[K]):
    """The keys that differ, each in the order of the mapping it was found in.

    ``raised`` is ``appeared`` and ``changed`` together, in the current mapping's order.
    """

    appeared: tuple[K, ...]
    changed: tuple[K, ...]
    cleared: tuple[K, ...]
    raised: tuple[K, ...]


def level_changes(previous: Mapping[K, L], current: Mapping[K, L]) -> LevelChanges[K]:
    """Compare the levels known before with the levels now.

    Args:
        previous: Key to level, as last known (empty when nothing is known yet).
        current: Key to level, now.
    """
    appeared: list[K] = []
    changed: list[K] = []
    raised: list[K] = []
    for key, level in current.items():
        if key not in previous:
            appeared.append(key)
        elif previous[key] != level:
            changed.append(key)
        else:
            continue
        raised.append(key)
    cleared = tuple(key for key in previous if key not in current)
    return LevelChanges(tuple(appeared), tuple(changed), cleared, tuple(raised))
