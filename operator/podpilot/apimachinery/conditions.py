"""Status conditions as ``metav1.Condition`` keeps them: ``lastTransitionTime`` moves only when
the condition's status flips, so it tells since when the condition has been what it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def by_type(conditions: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The conditions written before, by ``type`` (the last of each type)."""
    return {str(condition.get("type")): condition for condition in conditions}


def written_condition(
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    before: Mapping[str, Any] | None,
    now: str,
) -> dict[str, Any]:
    """One condition; ``before`` is the one of this type written before (None: none), ``now``
    the time to write if its status flipped (or it is new)."""
    kept = before is not None and before.get("status") == status
    since = before.get("lastTransitionTime") if before is not None and kept else None
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now,
    }
