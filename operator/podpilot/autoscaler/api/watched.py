"""An Autoscaler as the operator's watch of Autoscalers keeps it: what an evaluation reads of
the object (spec, generation, annotations), what a loop resumes from (part of the status, and
a digest of the whole), and what decides whether a loop runs at all (deletion)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .status import condition_states, status_digest

RESUMED_FIELDS = (
    "stabilization",
    "consecutiveFailures",
    "currentReplicas",
    "failingSince",
    "pendingRescale",
    "conditions",  # of each, only its type, status and transition time
    "lastActiveTime",
    "lastScaleTime",
    "takeover",
    "shadow",
)
"""The status fields ``AutoscalerLoop.resume`` reads (and of ``lastDecision``, only
``RESUMED_DECISION_FIELDS``)."""
RESUMED_DECISION_FIELDS = ("fallbackApplied", "evaluatedAt")

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
    spec: Mapping[str, Any]  # never changed in place: a loop compares it with its last one
    annotations: Mapping[str, str]
    encoded_status: bytes  # what a loop resumes from (``resumed_status``), as compact JSON
    status_digest: bytes | None  # of the whole status (``api.status.status_digest``); None: none
    deleting: bool
    finalizers: tuple[str, ...]

    @property
    def status(self) -> dict[str, Any]:
        """What a loop resumes from of the status, decoded at each call (a loop reads it when
        it starts to act). Kept encoded: as parsed objects, the stabilization windows' entries
        alone were about 6 KB per Autoscaler, some 60 MB at 10,000."""
        decoded: dict[str, Any] = json.loads(self.encoded_status)
        return decoded

    @property
    def has_kopf_finalizer(self) -> bool:
        return KOPF_FINALIZER in self.finalizers

    def kopf_finalizer_removal(self) -> dict[str, Any]:
        """The merge patch that takes kopf's finalizer off and keeps the others; conditional on
        the resourceVersion seen, so a change meanwhile is a 409, never an overwrite."""
        kept = [item for item in self.finalizers if item != KOPF_FINALIZER]
        return {"metadata": {"finalizers": kept, "resourceVersion": self.resource_version}}


def resumed_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """What a loop resumes from of a status. The rest (the last decision's trace, the current
    metrics, the summary) is about half of each status, 4 KB per Autoscaler, that no loop
    reads again: the watch keeps a digest of the whole status instead, to tell a status to
    be written from the one stored."""
    kept = {key: status[key] for key in RESUMED_FIELDS if key in status}
    if isinstance(kept.get("conditions"), list):
        kept["conditions"] = condition_states(kept["conditions"])
    decision = status.get("lastDecision")
    if isinstance(decision, Mapping):
        kept["lastDecision"] = {
            key: decision[key] for key in RESUMED_DECISION_FIELDS if key in decision
        }
    return kept


def watched_autoscaler(body: Mapping[str, Any]) -> WatchedAutoscaler:
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    status: Mapping[str, Any] = body.get("status") or {}
    generation = metadata.get("generation")
    return WatchedAutoscaler(
        uid=metadata.get("uid"),
        generation=generation if isinstance(generation, int) else None,
        resource_version=str(metadata.get("resourceVersion") or ""),
        spec=body.get("spec") or {},
        annotations=metadata.get("annotations") or {},
        encoded_status=json.dumps(resumed_status(status), separators=(",", ":")).encode(),
        status_digest=status_digest(status) if status else None,
        deleting=metadata.get("deletionTimestamp") is not None,
        finalizers=tuple(metadata.get("finalizers") or ()),
    )
