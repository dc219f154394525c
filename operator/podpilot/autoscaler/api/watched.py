"""An Autoscaler as the operator's watch of Autoscalers keeps it: what an evaluation reads of
the object (spec, generation, annotations), what a loop resumes from (status), and what
decides whether a loop runs at all (deletion)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
"""The finalizer kopf put on every Autoscaler while a kopf daemon evaluated each one (earlier
versions of podpilot): the operator no longer needs it, and takes it off each Autoscaler it
finds with it, so that none waits for a finalizer nothing will remove."""


@dataclass(frozen=True, slots=True)
class WatchedAutoscaler:
    """One Autoscaler, converted once when the watch delivers it."""

    uid: str | None
    generation: int | None
    resource_version: str
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    deleting: bool
    finalizers: tuple[str, ...]

    @property
    def has_kopf_finalizer(self) -> bool:
        return KOPF_FINALIZER in self.finalizers

    def kopf_finalizer_removal(self) -> dict[str, Any]:
        """The merge patch that takes kopf's finalizer off and keeps the others; conditional on
        the resourceVersion seen, so a change meanwhile is a 409, never an overwrite."""
        kept = [item for item in self.finalizers if item != KOPF_FINALIZER]
        return {"metadata": {"finalizers": kept, "resourceVersion": self.resource_version}}


def watched_autoscaler(body: Mapping[str, Any]) -> WatchedAutoscaler:
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    generation = metadata.get("generation")
    return WatchedAutoscaler(
        uid=metadata.get("uid"),
        generation=generation if isinstance(generation, int) else None,
        resource_version=str(metadata.get("resourceVersion") or ""),
        spec=body.get("spec") or {},
        annotations=metadata.get("annotations") or {},
        status=body.get("status") or {},
        deleting=metadata.get("deletionTimestamp") is not None,
        finalizers=tuple(metadata.get("finalizers") or ()),
    )
