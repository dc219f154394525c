"""Taking a target over from its HPA, and giving it back. Pure.

``podpilot takeover hpa NAME`` (``commands/takeover.py``) does the I/O in this order:

1. checks that the HPA has a count to seed from (``seed_from_hpa``), and the shadow tally
   (``refusal``) unless ``--force``;
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

The declarative takeover of GitOps users (annotation ``podpilot.io/takeover-from``,
``takeover_from.py``) computes its seed with the same ``seed_of``, names the HPA as the
command does (``hpa_reference``) and words its Event with the same ``seeded_message``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from podpilot.apimachinery.authored import authored
from podpilot.apimachinery.json_fields import count
from podpilot.apimachinery.timestamps import format_time, parse_time
from podpilot.autoscaler.engine import ScalingHistory, TimestampedRecommendation

MANIFEST_ANNOTATION: Final = "podpilot.io/hpa-manifest"
SEED_ANNOTATION: Final = "podpilot.io/takeover-seed"
CREATED_ANNOTATION: Final = "podpilot.io/created-by-takeover"
DEFAULT_THRESHOLD: Final = 0.95
DEFAULT_MIN_EVALUATIONS: Final = 20
SEED_LIFETIME: Final = 3600.0
"""Seconds a seed is folded into the history: the longest stabilization window."""
HPA_TYPES: Final = frozenset({"hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"})
_OBJECT_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


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
        except (ValueError, TypeError, RecursionError):
            return None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or at is None:
            return None
        return cls(replicas, at)


def seed_of(counts: Iterable[object], now: float) -> TakeoverSeed:
    """The one way a seed is computed: the largest of the counts known (the HPA's current and
    desired counts, and the target's when it was read; the HPA's stabilized count is at least
    every recommendation in its window), stamped ``now``. Unknown counts (None) are left out."""
    known = [c for c in counts if isinstance(c, int) and not isinstance(c, bool)]
    return TakeoverSeed(max(known or [0]), now)


def seed_from_hpa(hpa: Mapping[str, Any], now: float) -> TakeoverSeed | None:
    """``seed_of`` the HPA object's current and desired counts (``podpilot takeover``); None
    while they are no count: before the HPA controller's first sync the status is the API's
    zero value (``desiredReplicas: 0``, ``currentReplicas`` left out), and a seed of 0 would
    hold nothing: the takeover would be the step change it is meant not to be. A 0 is a count
    once the controller has written its conditions (an HPA scaled to zero)."""
    status = hpa.get("status")
    if not isinstance(status, Mapping):
        return None
    seed = seed_of((status.get("currentReplicas"), status.get("desiredReplicas")), now)
    if seed.replicas > 0 or status.get("conditions"):
        return seed
    return None


def hpa_reference(kind: str, name: str | None = None) -> str:
    """The HPA's name in ``hpa NAME`` or ``hpa/NAME``, as kubectl takes a type and a name (the
    command's arguments, the takeover-from annotation's value); ValueError says what is wrong."""
    if "/" in kind:
        if name is not None:
            raise ValueError("give either TYPE/NAME or TYPE NAME, not both")
        kind, name = kind.split("/", 1)
    if kind.lower() not in HPA_TYPES:
        raise ValueError(f"only an HPA can be taken over (TYPE is hpa), not {kind!r}")
    if not name:
        raise ValueError("the HPA's NAME is required")
    if not _OBJECT_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an object name (lower case, digits, '-' and '.')")
    return name


def hpa_counts(current: object, desired: object) -> str:
    """The HPA's two counts as the TakeoverSeeded Events word them."""
    return f"the HPA's current {current}, desired {desired}"


def seeded_message(
    name: str, seed: TakeoverSeed, counts: str, how: str = "", then: str = ""
) -> str:
    """The TakeoverSeeded Event of the command and of the operator: ``how`` the takeover was
    asked for (forced, by annotation), ``counts`` the seed was the largest of, ``then`` what
    follows (held until the HPA is deleted, by default)."""
    return (
        f"taking over from HPA {name}{how}: Active, stabilization seeded at {seed.replicas} "
        f"replicas ({counts}); {then or 'held until the HPA is deleted'}"
    )


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
    manifest = authored(hpa)
    manifest.setdefault("apiVersion", "autoscaling/v2")
    manifest.setdefault("kind", "HorizontalPodAutoscaler")
    return manifest


def refusal(shadow: object, hpa_name: str, threshold: float, min_evaluations: int) -> str | None:
    """Why the tally in ``status.shadow`` does not allow a takeover, or None when it does. An
    agreement needs at least one comparable evaluation, whatever ``min_evaluations`` says."""
    if not isinstance(shadow, Mapping) or shadow.get("hpa") != hpa_name:
        return (
            f"no shadow tally of HPA {hpa_name}: create a DryRun Autoscaler beside it "
            "(podpilot convert --mode DryRun) and let it compare, or use --force"
        )
    evaluations = count(shadow.get("evaluations"))
    agreed = count(shadow.get("agreed"))
    needed = max(min_evaluations, 1)
    if evaluations < needed:
        return (
            f"only {evaluations} comparable evaluations of HPA {hpa_name} "
            f"(at least {needed} needed); wait, or use --force"
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
    "HPA_TYPES",
    "MANIFEST_ANNOTATION",
    "SEED_ANNOTATION",
    "TakeoverSeed",
    "hpa_counts",
    "hpa_reference",
    "kept_manifest",
    "refusal",
    "seed_from_hpa",
    "seed_of",
    "seeded_history",
    "seeded_message",
]
