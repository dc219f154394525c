"""Shadowing an HPA: a DryRun Autoscaler's recommendation beside the HPA's, tallied. Pure.

At every evaluation of a DryRun Autoscaler whose target an ``autoscaling/v2`` HPA also scales,
its desired count is compared with the HPA's ``status.desiredReplicas`` as the HPA watch last
saw it, and the tally (evaluations compared, agreed, the last disagreement) is kept in
``status.shadow``; ``podpilot takeover`` reads it before it hands the target over.

A comparison is made only when both sides computed a recommendation from their metrics:

- the HPA's ``ScalingActive`` condition is True (its last sync read its metrics) and it has a
  ``status.desiredReplicas``; should its status have an ``observedGeneration`` (the built-in
  controller writes none), it must be at least ``metadata.generation``;
- the Autoscaler's evaluation read its metrics and ended in a count (``NoChange`` or
  ``DryRun``, not ``Held``, ``Failed`` or ``Paused``).

Otherwise the evaluation is counted as ``skipped``. The HPA's status is the one its last sync
wrote (every 15 s by default), so the two sides may be up to one HPA period apart: a change of
load shows as a disagreement for an evaluation or two. The tally says what was measured, it
does not smooth that away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.timestamps import format_time, parse_time

from .result import Action, EvaluationResult

MAX_TEXT = 512
COMPARED_ACTIONS = frozenset({Action.NO_CHANGE, Action.DRY_RUN})


@dataclass(frozen=True, slots=True)
class HpaState:
    """What the HPA watch keeps of one HPA's status, for the shadow comparison."""

    generation: int | None = None
    observed_generation: int | None = None
    current_replicas: int | None = None
    desired_replicas: int | None = None
    conditions: tuple[tuple[str, str, str], ...] = ()  # (type, status, reason)
    current_metrics: str = ""  # the HPA's status.currentMetrics in words

    @property
    def comparable(self) -> bool:
        """The HPA computed its desired count from its metrics, for its current spec."""
        if self.desired_replicas is None:
            return False
        # kube-controller-manager's HPA controller never writes observedGeneration; when an
        # implementation does, it must have seen the current spec.
        seen, current = self.observed_generation, self.generation
        if seen is not None and current is not None and seen < current:
            return False
        return any(
            kind == "ScalingActive" and state == "True" for kind, state, _ in self.conditions
        )

    @property
    def reason(self) -> str:
        """The HPA's conditions as ``Type=Status (Reason)``, its reasons for that count."""
        return "; ".join(f"{kind}={state} ({why})" for kind, state, why in self.conditions)


def hpa_state(hpa: Mapping[str, Any]) -> HpaState:
    """An ``autoscaling/v2`` HPA object's status as the HPA watch keeps it."""
    metadata: Mapping[str, Any] = hpa.get("metadata") or {}
    status: Mapping[str, Any] = hpa.get("status") or {}
    conditions = tuple(
        (str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")))
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )
    return HpaState(
        generation=_int(metadata.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        current_replicas=_int(status.get("currentReplicas")),
        desired_replicas=_int(status.get("desiredReplicas")),
        conditions=conditions,
        current_metrics=describe_hpa_metrics(status.get("currentMetrics") or []),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe_hpa_metrics(metrics: Sequence[Any]) -> str:
    """The HPA's ``status.currentMetrics`` as short words: ``Resource cpu: 75% (250m)``."""
    parts: list[str] = []
    for item in metrics:
        if not isinstance(item, Mapping):
            continue
        kind = str(item.get("type", ""))
        block: Mapping[str, Any] = item.get(kind[:1].lower() + kind[1:]) or {}
        name = block.get("name") or (block.get("metric") or {}).get("name") or ""
        current: Mapping[str, Any] = block.get("current") or {}
        values = [
            f"{current['averageUtilization']}%" if "averageUtilization" in current else "",
            str(current.get("averageValue", "")),
            str(current.get("value", "")),
        ]
        shown = ", ".join(value for value in values if value)
        parts.append(f"{kind} {name}: {shown or '<unknown>'}".replace("  ", " "))
    return "; ".join(parts)[:MAX_TEXT]


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One evaluation where the two counts differed, with each side's reasons."""

    time: float
    ours: int
    our_reason: str
    our_metrics: str
    hpa: int
    hpa_reason: str
    hpa_metrics: str


@dataclass(frozen=True, slots=True)
class ShadowTally:
    """The comparisons of one Autoscaler with one HPA, since it began shadowing it."""

    hpa: str
    evaluations: int = 0  # compared
    agreed: int = 0
    skipped: int = 0  # not comparable (see the module docstring)
    last_disagreement: Disagreement | None = None

    @property
    def agreement_ratio(self) -> float | None:
        return self.agreed / self.evaluations if self.evaluations else None


def tally_after(
    tally: ShadowTally | None,
    hpa_name: str,
    hpa: HpaState,
    result: EvaluationResult,
    our_metrics: str,
) -> ShadowTally:
    """The tally once ``result`` (a DryRun evaluation) is compared with ``hpa``'s status; a
    tally of another HPA starts again."""
    if tally is None or tally.hpa != hpa_name:
        tally = ShadowTally(hpa_name)
    if not hpa.comparable or result.action not in COMPARED_ACTIONS or result.decision is None:
        return ShadowTally(
            tally.hpa, tally.evaluations, tally.agreed, tally.skipped + 1, tally.last_disagreement
        )
    theirs = hpa.desired_replicas
    assert theirs is not None  # comparable
    ours = result.desired_replicas
    if ours == theirs:
        return ShadowTally(
            tally.hpa, tally.evaluations + 1, tally.agreed + 1, tally.skipped,
            tally.last_disagreement,
        )  # fmt: skip
    disagreement = Disagreement(
        time=result.now,
        ours=ours,
        our_reason=result.action_message[:MAX_TEXT],
        our_metrics=our_metrics[:MAX_TEXT],
        hpa=theirs,
        hpa_reason=hpa.reason[:MAX_TEXT],
        hpa_metrics=hpa.current_metrics,
    )
    return ShadowTally(tally.hpa, tally.evaluations + 1, tally.agreed, tally.skipped, disagreement)


def tally_to_status(tally: ShadowTally) -> dict[str, Any]:
    """``status.shadow``."""
    ratio = tally.agreement_ratio
    status: dict[str, Any] = {
        "hpa": tally.hpa,
        "evaluations": tally.evaluations,
        "agreed": tally.agreed,
        "skipped": tally.skipped,
        "agreementRatio": f"{ratio:.3f}" if ratio is not None else None,
        "lastDisagreement": None,
    }
    last = tally.last_disagreement
    if last is not None:
        status["lastDisagreement"] = {
            "time": format_time(last.time, precise=True),
            "ours": {"replicas": last.ours, "reason": last.our_reason, "metrics": last.our_metrics},
            "hpa": {
                "replicas": last.hpa,
                "reason": last.hpa_reason,
                "currentMetrics": last.hpa_metrics,
            },
        }
    return status


def tally_from_status(stored: object) -> ShadowTally | None:
    """A tally written by ``tally_to_status`` (by this process or an earlier one)."""
    if not isinstance(stored, Mapping) or not stored.get("hpa"):
        return None
    last: Disagreement | None = None
    found = stored.get("lastDisagreement")
    if isinstance(found, Mapping):
        ours: Mapping[str, Any] = found.get("ours") or {}
        theirs: Mapping[str, Any] = found.get("hpa") or {}
        last = Disagreement(
            time=parse_time(found.get("time")) or 0.0,
            ours=int(ours.get("replicas") or 0),
            our_reason=str(ours.get("reason") or ""),
            our_metrics=str(ours.get("metrics") or ""),
            hpa=int(theirs.get("replicas") or 0),
            hpa_reason=str(theirs.get("reason") or ""),
            hpa_metrics=str(theirs.get("currentMetrics") or ""),
        )
    return ShadowTally(
        str(stored["hpa"]),
        int(stored.get("evaluations") or 0),
        int(stored.get("agreed") or 0),
        int(stored.get("skipped") or 0),
        last,
    )


def describe_tally(stored: Mapping[str, Any], shadowing: bool = True) -> list[str]:
    """``status.shadow`` in words, for ``podpilot explain``; ``shadowing`` False once the
    Autoscaler is Active (the tally is then the record of the takeover)."""
    evaluations = int(stored.get("evaluations") or 0)
    agreed = int(stored.get("agreed") or 0)
    ratio = f" ({100 * agreed / evaluations:.1f}%)" if evaluations else ""
    verb = "Shadowing" if shadowing else "Shadowed (before it became Active)"
    lines = [
        f"{verb} HPA {stored.get('hpa')}: agreed {agreed} of {evaluations} "
        f"comparable evaluations{ratio}, {stored.get('skipped') or 0} not comparable"
    ]
    last = stored.get("lastDisagreement")
    if isinstance(last, Mapping):
        ours: Mapping[str, Any] = last.get("ours") or {}
        theirs: Mapping[str, Any] = last.get("hpa") or {}
        lines += [
            f"  last disagreement at {last.get('time')}:",
            f"    podpilot {ours.get('replicas')} ({ours.get('reason')}; {ours.get('metrics')})",
            f"    HPA {theirs.get('replicas')} ({theirs.get('reason')}; "
            f"{theirs.get('currentMetrics')})",
        ]
    return lines


__all__ = [
    "Disagreement",
    "HpaState",
    "ShadowTally",
    "describe_hpa_metrics",
    "describe_tally",
    "hpa_state",
    "tally_after",
    "tally_from_status",
    "tally_to_status",
]
