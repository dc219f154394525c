"""The declarative takeover of GitOps users: annotation ``podpilot.io/takeover-from: hpa/NAME``
on an Active Autoscaler. Pure.

One commit makes the Autoscaler Active with this annotation and removes the HPA; the GitOps tool
deletes the HPA (the operator never does: no RBAC for it). What the operator does is what
``podpilot takeover`` does to the history (``takeover.py``): seed the stabilization history
with one recommendation, ``seed_of`` the target's count and the HPA's current and desired
counts, so the handover never scales down inside a downscale window, whichever of the two
writes the tool applies first:

- the Autoscaler first: while the HPA exists the ambiguity guard (``owners.py``) holds the
  Autoscaler, and each of its evaluations seeds again, from the target's count and the HPA's
  latest counts as the HPA watch saw them;
- the HPA deleted first: nobody scaled the target since, and the first evaluation seeds from
  the target's count.

The seed made once the HPA is gone is the last one: ``status.takeover`` records it
(``complete``) and from then on that record, not the annotation, says the seed was made, so a
restarted operator does not seed again (the seed itself lives on in ``status.stabilization``).
The record is kept while the annotation keeps the value it was made for; without the annotation
(a reverted commit) or with another value, it is dropped, and a later takeover seeds again.

An Active Autoscaler whose annotation does not parse, names an HPA the watch knows that scales
another target, or names an HPA the watch does not know while another HPA scales the target, is
held (``InvalidTakeover``) and nothing is seeded: the user asked for a handover that cannot be
made as asked, and acting without its seed could scale down inside the HPA's window. A DryRun
Autoscaler ignores the annotation (it scales nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from podpilot.apimachinery.timestamps import format_time, parse_time

from .owners import HpaTarget
from .result import Event
from .shadow import HpaState
from .takeover import TakeoverSeed, hpa_counts, hpa_reference, seed_of, seeded_message

TAKEOVER_FROM_ANNOTATION: Final = "podpilot.io/takeover-from"
INVALID_TAKEOVER: Final = "InvalidTakeover"
TAKEOVER_SEEDED: Final = "TakeoverSeeded"


@dataclass(frozen=True, slots=True)
class TakeoverRecord:
    """``status.takeover``: the last seed made for the annotation's value ``source``."""

    source: str  # the annotation's value, "hpa/web"
    seeded_at: float
    replicas: int
    complete: bool  # made with the HPA gone: no seed after it


@dataclass(frozen=True, slots=True)
class SeedDue:
    """This evaluation seeds, once it has read the target's count."""

    source: str
    hpa_name: str
    hpa: HpaState | None  # as the HPA watch last saw it; None once the HPA is gone
    first: bool  # no record yet for this annotation value

    def seed(self, current_replicas: int, now: float) -> TakeoverSeed:
        hpa = self.hpa
        counts = (hpa.current_replicas, hpa.desired_replicas) if hpa is not None else ()
        return seed_of((current_replicas, *counts), now)

    def event(self, seed: TakeoverSeed, current_replicas: int) -> Event | None:
        """``TakeoverSeeded`` at the first seed and at the last (the HPA gone), not at the
        seeds made again in between."""
        if not self.first and self.hpa is not None:
            return None
        how = f" (annotation {TAKEOVER_FROM_ANNOTATION})"
        target = f"the target's {current_replicas}"
        if self.hpa is None:
            counts, then = (
                f"{target}; the HPA is gone",
                "no scale-down below it for a downscale window from now",
            )
        else:
            counts = f"{target}, {hpa_counts(self.hpa.current_replicas, self.hpa.desired_replicas)}"
            then = "held until the HPA is deleted, and seeded again at each evaluation until then"
        return Event(
            "Normal", TAKEOVER_SEEDED, seeded_message(self.hpa_name, seed, counts, how, then)
        )


@dataclass(frozen=True, slots=True)
class TakeoverStep:
    """What one evaluation does about the annotation."""

    record: TakeoverRecord | None = None  # status.takeover when this evaluation seeds nothing
    seed: SeedDue | None = None
    refusal: str | None = None  # hold the Active Autoscaler, with this message

    def record_after(self, seeded: TakeoverSeed | None) -> TakeoverRecord | None:
        """``status.takeover`` after the evaluation; ``seeded`` is the seed it folded in (None
        when it could not: the target's scale was not read, the evaluation failed)."""
        due = self.seed
        if due is None or seeded is None:
            return self.record
        return TakeoverRecord(due.source, seeded.at, seeded.replicas, complete=due.hpa is None)


NO_TAKEOVER: Final = TakeoverStep()

HpaLookup = Callable[[str], HpaTarget | None]
"""The HPA of that name in the Autoscaler's namespace, as its watch last saw it."""


def takeover_step(
    annotation: str | None,
    record: TakeoverRecord | None,
    active: bool,
    target: tuple[str, str],
    hpa_named: HpaLookup,
    target_hpa: str | None = None,
) -> TakeoverStep:
    """Whether this evaluation of an Autoscaler (``active`` or not, scaling ``target``, kind
    and name) seeds, is held, or neither, given its annotation and its ``status.takeover``;
    ``target_hpa`` is the HPA the watch knows to scale the target (the first by name), if
    any."""
    if annotation is None:
        return NO_TAKEOVER  # no takeover asked for: a record left over is dropped
    source = annotation.strip()
    kept = record if record is not None and record.source == source else None
    if not active:
        return TakeoverStep(kept)
    try:
        name = hpa_reference(source)
    except ValueError as error:
        return TakeoverStep(
            refusal=f"annotation {TAKEOVER_FROM_ANNOTATION} is {annotation!r}: {error}; not "
            "scaling until it names the HPA this Autoscaler takes over (hpa/NAME) or is removed"
        )
    hpa = hpa_named(name)
    if hpa is not None and (hpa.kind, hpa.name) != target:
        kind, target_name = target
        return TakeoverStep(
            refusal=f"annotation {TAKEOVER_FROM_ANNOTATION} names HPA {name}, which scales "
            f"{hpa.kind}/{hpa.name}, not this Autoscaler's target {kind}/{target_name}; not "
            "scaling until it names this target's HPA or is removed"
        )
    if hpa is None and target_hpa is not None:
        # A misspelt name: the seed made now would be taken for the last, and the HPA that
        # does scale the target could be deleted later without one.
        return TakeoverStep(
            refusal=f"annotation {TAKEOVER_FROM_ANNOTATION} names HPA {name}, which does not "
            f"exist, while HPA {target_hpa} scales this target; not scaling until it names "
            f"that HPA or is removed"
        )
    if kept is not None and kept.complete:
        if hpa is None:
            return TakeoverStep(kept)
        # The HPA scales this target again (recreated, the Autoscaler back in DryRun and then
        # Active again with the same annotation): a new takeover, which seeds from the start.
        kept = None
    state = hpa.state if hpa is not None else None
    return TakeoverStep(kept, SeedDue(source, name, state, first=kept is None))


def record_to_status(record: TakeoverRecord | None) -> dict[str, Any] | None:
    """``status.takeover`` (None removes it: the status is merge-patched)."""
    if record is None:
        return None
    return {
        "from": record.source,
        "seededAt": format_time(record.seeded_at, precise=True),
        "replicas": record.replicas,
        "complete": record.complete,
    }


def record_from_status(stored: object) -> TakeoverRecord | None:
    """A record written by ``record_to_status``; None when there is none or it is unreadable
    (then the next evaluation seeds again, which only holds a scale-down longer)."""
    if not isinstance(stored, Mapping):
        return None
    source, replicas = stored.get("from"), stored.get("replicas")
    try:
        at = parse_time(stored.get("seededAt"))
    except (TypeError, ValueError):
        return None
    if not isinstance(source, str) or not isinstance(replicas, int) or at is None:
        return None
    return TakeoverRecord(source, at, replicas, bool(stored.get("complete")))


def describe_record(stored: object) -> list[str]:
    """``status.takeover`` in words, for ``podpilot explain``."""
    record = record_from_status(stored)
    if record is None:
        return []
    when = format_time(record.seeded_at)
    if record.complete:
        return [
            f"Took over from {record.source} (annotation {TAKEOVER_FROM_ANNOTATION}): "
            f"seeded at {record.replicas} replicas at {when}, with the HPA gone"
        ]
    return [
        f"Taking over from {record.source} (annotation {TAKEOVER_FROM_ANNOTATION}): held while "
        f"the HPA exists; last seeded at {record.replicas} replicas at {when}"
    ]


__all__ = [
    "INVALID_TAKEOVER",
    "NO_TAKEOVER",
    "TAKEOVER_FROM_ANNOTATION",
    "TAKEOVER_SEEDED",
    "HpaLookup",
    "SeedDue",
    "TakeoverRecord",
    "TakeoverStep",
    "describe_record",
    "record_from_status",
    "record_to_status",
    "takeover_step",
]
