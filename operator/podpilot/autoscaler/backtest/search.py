"""``recommend``'s search: replay every candidate, keep those whose load stays under the
ceiling, and pick the one with the fewest replica-minutes. Pure.

The load of a Resource metric is the fraction of requests used (the same for every candidate,
as it depends only on the replica count); the load of a Prometheus metric is its value
relative to the original spec's target. A candidate is acceptable when its load exceeds the
ceiling for at most ``allowed_over`` of the replayed window (``--from`` to ``--to``); among
the acceptable ones the fewest replica-minutes win, then the fewest scale events, then the
earlier candidate (the original spec comes first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.autoscaler.api.metric_types import History
from podpilot.settings import HpaSettings

from .candidates import Candidate, candidates
from .replay import DEFAULT_SETTINGS, BacktestError, RecordedPods, Replay, Step, replay
from .summary import Summary, simulated
from .trace import Trace


@dataclass(frozen=True)
class Evaluated:
    candidate: Candidate
    replay: Replay
    summary: Summary


@dataclass(frozen=True)
class Recommendation:
    """The original spec's evaluation, every candidate's, and the best acceptable one (None
    when no candidate keeps the load under the ceiling)."""

    original: Evaluated
    best: Evaluated | None
    evaluated: tuple[Evaluated, ...]
    ceiling: float
    allowed_seconds: float


def recommend(
    raw: Mapping[str, Any],
    trace: Trace,
    *,
    ceiling: float,
    allowed_over: float = 0.0,
    settings: HpaSettings = DEFAULT_SETTINGS,
) -> Recommendation:
    """Search the candidates of ``raw`` (an Autoscaler's ``spec``) over ``trace``."""
    recorded = RecordedPods(trace, settings)
    evaluated = tuple(
        _evaluate(candidate, recorded, ceiling, settings, judge_actual=index == 0)
        for index, candidate in enumerate(candidates(raw))
    )
    _refuse_an_unjudged_ceiling(evaluated[0])
    allowed = allowed_over * trace.window_seconds
    acceptable = [
        item for item in evaluated if (item.summary.seconds_over_ceiling or 0.0) <= allowed
    ]
    best = min(
        acceptable,
        key=lambda item: (item.summary.replica_minutes, item.summary.scale_events),
        default=None,
    )
    return Recommendation(evaluated[0], best, evaluated, ceiling, allowed)


def _refuse_an_unjudged_ceiling(original: Evaluated) -> None:
    """A metric whose load is never known (a Resource metric with an AverageValue target, whose
    pods have no requests in the history) would never count as over the ceiling, and the
    cheapest candidate would win whatever its load: refused instead."""
    steps = original.replay.steps
    for index, metric in enumerate(original.candidate.spec.metrics):
        if steps and all(step.loads[index] is None for step in steps):
            raise BacktestError(
                f"spec.metrics[{index}] ({metric.display_name}): no load is known at any step "
                "(its pods have no requests in the history), so --ceiling cannot be judged"
            )


def _evaluate(
    candidate: Candidate,
    recorded: RecordedPods,
    ceiling: float,
    settings: HpaSettings,
    *,
    judge_actual: bool,
) -> Evaluated:
    replayed = replay(
        candidate.spec,
        recorded.trace,
        name=candidate.label,
        settings=settings,
        judge_actual=judge_actual,
        recorded=recorded,
    )
    if candidate.target_factor != 1.0:
        # A Prometheus metric's load is its ratio to this candidate's target: back to the
        # original target's scale, so every candidate is held to the same ceiling.
        steps = tuple(_rescaled_loads(step, candidate) for step in replayed.steps)
        replayed = dataclasses.replace(replayed, steps=steps)
    return Evaluated(candidate, replayed, simulated(replayed, ceiling))


def _rescaled_loads(step: Step, candidate: Candidate) -> Step:
    factor = candidate.target_factor
    loads = tuple(
        load * factor if load is not None and metric.history is History.QUERY else load
        for metric, load in zip(candidate.spec.metrics, step.loads, strict=True)
    )
    return dataclasses.replace(step, loads=loads)


__all__ = ["Evaluated", "Recommendation", "recommend"]
