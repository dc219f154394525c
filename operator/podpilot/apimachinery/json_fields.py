"""Fields of JSON the API server served, read without trusting their shape: a field of another
type reads as absent (an empty mapping or list, a zero count), so a hand-edited object, or one
written by another version, degrades to "not set" instead of raising."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: object) -> list[Any]:
    """``value``'s items if it is a list, else none."""
    return list(value) if isinstance(value, list) else []


def mappings(value: object) -> list[Mapping[str, Any]]:
    """The objects among ``value``'s items (none if it is not a list)."""
    return [item for item in sequence(value) if isinstance(item, Mapping)]


def count(value: object) -> int:
    """``value`` if it is a whole number (not a boolean), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def plain(value: object) -> Any:
    """A deep copy as plain dicts and lists (a client's or kopf's mapping views become dicts)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
