"""The figures of one replica curve over a trace, for the simulated and the actual history. Pure.

Every step stands for its duration: its count holds until the next step, the last one until
the window's end (``--to``), so the time figures add up to exactly the window, not one step
past it. A step is over target when any metric's usage ratio to its target exceeds 1 by more
than the spec's scale-up tolerance (the band in which the HPA would not scale up either),
under target otherwise, and unknown when no metric had a value. A scale event is a change of
count from one step to the next; the largest step is the largest such change. The peak load
is the largest load at any step, the last one (at ``--to``) included.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .replay import Replay


@dataclass(frozen=True)
class Summary:
    replica_minutes: float
    seconds_over_target: float
    seconds_under_target: float
    seconds_unknown: float
    scale_events: int
    largest_step: int
    seconds_at_max: float
    peak_load: float | None  # the largest load of any metric (Replay's ``Step.loads``)
    seconds_over_ceiling: float | None = None  # with a ceiling: load above it

    def as_dict(self) -> dict[str, Any]:
        return {
            "replicaMinutes": round(self.replica_minutes, 2),
            "secondsOverTarget": self.seconds_over_target,
            "secondsUnderTarget": self.seconds_under_target,
            "secondsUnknown": self.seconds_unknown,
            "scaleEvents": self.scale_events,
            "largestStep": self.largest_step,
            "secondsAtMaxReplicas": self.seconds_at_max,
            "peakLoad": None if self.peak_load is None else round(self.peak_load, 4),
            **(
                {"secondsOverCeiling": self.seconds_over_ceiling}
                if self.seconds_over_ceiling is not None
                else {}
            ),
        }


def summarize(
    counts: Sequence[int | None],
    ratios: Sequence[Sequence[float | None]],
    loads: Sequence[Sequence[float | None]],
    *,
    durations: Sequence[float],
    max_replicas: int,
    ceiling: float | None = None,
    over_above: float = 1.0,
) -> Summary:
    """The figures of one curve: ``counts[i]`` replicas for ``durations[i]`` seconds, with
    those ratios and loads per metric (None where unknown). Steps with an unknown count add
    no replica-minutes and are unknown. A step is over target when a ratio exceeds
    ``over_above`` (1 plus the spec's scale-up tolerance: inside the band the HPA would not
    scale up either)."""
    over = under = unknown = at_max = over_ceiling = 0.0
    replica_seconds = 0.0
    peak: float | None = None
    for count, step_ratios, step_loads, seconds in zip(
        counts, ratios, loads, durations, strict=True
    ):
        known = [ratio for ratio in step_ratios if ratio is not None]
        if count is None or not known:
            unknown += seconds
        elif max(known) > over_above:
            over += seconds
        else:
            under += seconds
        if count is None:
            continue
        replica_seconds += count * seconds
        at_max += seconds if count >= max_replicas else 0.0
        step_peak = max((load for load in step_loads if load is not None), default=None)
        if step_peak is not None:
            peak = step_peak if peak is None else max(peak, step_peak)
            over_ceiling += seconds if ceiling is not None and step_peak > ceiling else 0.0
    changes = _changes(counts)
    return Summary(
        replica_minutes=replica_seconds / 60.0,
        seconds_over_target=over,
        seconds_under_target=under,
        seconds_unknown=unknown,
        scale_events=len(changes),
        largest_step=max((abs(change) for change in changes), default=0),
        seconds_at_max=at_max,
        peak_load=peak,
        seconds_over_ceiling=over_ceiling if ceiling is not None else None,
    )


def _changes(counts: Sequence[int | None]) -> list[int]:
    known = [count for count in counts if count is not None]
    return [after - before for before, after in itertools.pairwise(known) if after != before]


def simulated(replay: Replay, ceiling: float | None = None) -> Summary:
    """The replayed curve's figures."""
    return _of_curve(replay, ceiling, recorded=False)


def actual(replay: Replay, ceiling: float | None = None) -> Summary:
    """The recorded curve's figures, judged against the replayed spec's targets and max."""
    return _of_curve(replay, ceiling, recorded=True)


def _of_curve(replay: Replay, ceiling: float | None, *, recorded: bool) -> Summary:
    steps = replay.steps
    return summarize(
        [step.actual if recorded else step.replicas for step in steps],
        [step.actual_ratios if recorded else step.ratios for step in steps],
        [step.actual_loads if recorded else step.loads for step in steps],
        durations=[step.seconds for step in steps],
        max_replicas=replay.spec.max_replicas,
        ceiling=ceiling,
        over_above=1.0 + replay.scale_up_tolerance,
    )


def scale_event_times(counts: Sequence[int | None], times: Sequence[float]) -> list[float]:
    """When a curve changed its count: the times of the steps that run a new count."""
    events: list[float] = []
    previous: int | None = None
    for count, time in zip(counts, times, strict=True):
        if count is None:
            continue
        if previous is not None and count != previous:
            events.append(time)
        previous = count
    return events


__all__ = ["Summary", "actual", "scale_event_times", "simulated", "summarize"]
