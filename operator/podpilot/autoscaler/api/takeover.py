"""Taking a target over from its HPA, and giving it back. Pure.

``podpilot takeover hpa NAME`` (``commands/takeover.py``) does the I/O in this order:

1. checks the shadow tally (``refusal``) unless ``--force``;
2. makes the Autoscaler Active (creating it from the HPA when none shadows it), in the same
   write as two annotations: the HPA's manifest (``kept_manifest``) and the seed
   (``seed_from_hpa``), so an operator that sees the Active spec also sees the seed. While the
   HPA exists the Active Autoscaler is held by the ambiguity guard (``owners.py``): it writes
   nothing to ``/scale``, but its history already holds the seed;
3. deletes the HPA, on condition that it is still the version the seed was read from.

The seed is one stabilization recommendation of the larger of the HPA's current and desired
counts, stamped at the takeover: the Autoscaler's downscale stabilization window (converted
from the HPA's own) then keeps it at or above that count until a whole window has passed, so
it never scales down before the HPA itself would have. ``--undo`` creates the kept manifest
again, then returns the Autoscaler to DryRun (or deletes it if the takeover created it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from podpilot.apimachinery.timestamps import format_time, parse_time
from podpilot.autoscaler.engine import ScalingHistory, TimestampedRecommendation

MANIFEST_ANNOTATION: Final = "podpilot.io/hpa-manifest"
SEED_ANNOTATION: Final = "podpilot.io/takeover-seed"
CREATED_ANNOTATION: Final = "podpilot.io/created-by-takeover"
DEFAULT_THRESHOLD: Final = 0.95
DEFAULT_MIN_EVALUATIONS: Final = 20
SEED_LIFETIME: Final = 3600.0
"""Seconds a seed is folded into the history: the longest stabilization window."""

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


@dataclass(frozen=True, slots=True)
class TakeoverSeed:
    """The HPA's count at the takeover, as a stabilization recommendation."""

    replicas: int
    at: float

    def to_annotation(self) -> str:
        return json.dumps({"replicas": self.replicas, "at": format_time(self.at, precise=True)})

    @classmethod
    def from_annotation(cls, text: str | None) -> TakeoverSeed | None:
        """The seed annotation's value; None when there is none or it does not parse."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, Mapping):
                return None
            replicas, at = data.get("replicas"), parse_time(data.get("at"))
        except (ValueError, TypeError):
            return None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or at is None:
            return None
        return cls(replicas, at)


def seed_from_hpa(hpa: Mapping[str, Any], now: float) -> TakeoverSeed:
    """The larger of the HPA's current and desired counts (the HPA's stabilized count is at
    least every recommendation in its window), stamped ``now``."""
    status: Mapping[str, Any] = hpa.get("status") or {}
    counts = [status.get("currentReplicas"), status.get("desiredReplicas")]
    return TakeoverSeed(max([c for c in counts if isinstance(c, int)] or [0]), now)


def seeded_history(
    history: ScalingHistory | None, seed: TakeoverSeed | None, now: float
) -> ScalingHistory | None:
    """``history`` with the seed among its recommendations (once), while it can matter: from
    an hour before its time (a seed written ahead, see docs/autoscaler.md) to an hour after."""
    if seed is None or abs(now - seed.at) >= SEED_LIFETIME:
        return history
    base = history or ScalingHistory()
    recommendation = TimestampedRecommendation(seed.replicas, seed.at)
    if recommendation in base.recommendations:
        return base
    return ScalingHistory(
        (recommendation, *base.recommendations), base.scale_up_events, base.scale_down_events
    )


def kept_manifest(hpa: Mapping[str, Any]) -> dict[str, Any]:
    """The HPA as ``--undo`` creates it again: everything its author wrote, nothing the server
    did (status, uid, resourceVersion, managed fields, ...)."""
    metadata = {
        key: value
        for key, value in (hpa.get("metadata") or {}).items()
        if key not in SERVER_METADATA
    }
    manifest = {key: value for key, value in hpa.items() if key not in ("status", "metadata")}
    manifest["metadata"] = metadata
    manifest.setdefault("apiVersion", "autoscaling/v2")
    manifest.setdefault("kind", "HorizontalPodAutoscaler")
    return manifest


def refusal(
    shadow: Mapping[str, Any] | None, hpa_name: str, threshold: float, min_evaluations: int
) -> str | None:
    """Why the tally in ``status.shadow`` does not allow a takeover, or None when it does."""
    if not shadow or shadow.get("hpa") != hpa_name:
        return (
            f"no shadow tally of HPA {hpa_name}: create a DryRun Autoscaler beside it "
            "(podpilot convert --mode DryRun) and let it compare, or use --force"
        )
    evaluations = int(shadow.get("evaluations") or 0)
    agreed = int(shadow.get("agreed") or 0)
    if evaluations < min_evaluations:
        return (
            f"only {evaluations} comparable evaluations of HPA {hpa_name} "
            f"(at least {min_evaluations} needed); wait, or use --force"
        )
    ratio = agreed / evaluations
    if ratio < threshold:
        return (
            f"the Autoscaler agreed with HPA {hpa_name} in {agreed} of {evaluations} "
            f"evaluations ({ratio:.1%}), below the threshold of {threshold:.1%}; "
            "see podpilot explain, or use --force"
        )
    return None


__all__ = [
    "CREATED_ANNOTATION",
    "MANIFEST_ANNOTATION",
    "SEED_ANNOTATION",
    "TakeoverSeed",
    "kept_manifest",
    "refusal",
    "seed_from_hpa",
    "seeded_history",
]
