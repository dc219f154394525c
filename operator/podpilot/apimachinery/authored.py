"""What the author of an object wrote, apart from what the apiserver added. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

SERVER_METADATA: Final = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
"""Metadata the apiserver writes: applying it back conflicts (resourceVersion) or is refused."""


def authored(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The object without ``status`` and without the server's metadata (copied shallowly)."""
    kept = {key: value for key, value in manifest.items() if key not in ("status", "metadata")}
    kept["metadata"] = {
        key: value
        for key, value in (manifest.get("metadata") or {}).items()
        if key not in SERVER_METADATA
    }
    return kept
