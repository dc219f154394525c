"""Recorded history, one value per step, as the backtest replays it. Pure.

Values are milli-units, as everywhere the engine reads them: usage and requests per pod for
a Resource or ContainerResource metric, one reduced value per PromQL query for a Prometheus
metric. A value missing at a step is absent from its mapping (pods) or None (queries).

The steps cover the window from the first step's time to ``end`` (``--to``): each step's
state holds until the next step, the last one until ``end``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from podpilot.autoscaler.engine import PodPhase


@dataclass(frozen=True)
class PodSeries:
    """One resource's per-pod history: ``usage[i]`` and ``requests[i]`` map pod names to
    milli-units at step ``i`` (a pod with no sample at that step is not in the mapping)."""

    usage: tuple[Mapping[str, int], ...]
    requests: tuple[Mapping[str, int], ...]


@dataclass(frozen=True)
class ResourceKey:
    """Which pod series a metric reads: the resource, and the container ("" for the pod)."""

    resource: str
    container: str = ""


@dataclass(frozen=True)
class Trace:
    """Everything a replay reads: the step times (epoch seconds), the workload's actual
    replica count (None where unknown), and the series of every metric of the specs.

    ``phases[i]`` maps pod names to their ``status.phase`` at step ``i`` (kube-state-metrics'
    ``kube_pod_status_phase``); a pod absent from it, or every pod when ``phases`` is empty
    (the history has no phase series), is replayed as Running. ``end`` is the window's end,
    the last step's time when None.
    """

    times: tuple[float, ...]
    replicas: tuple[int | None, ...]
    resources: Mapping[ResourceKey, PodSeries]
    queries: Mapping[str, tuple[int | None, ...]]  # PromQL as written -> milli per step
    phases: tuple[Mapping[str, PodPhase], ...] = ()
    end: float | None = None

    @property
    def step(self) -> float:
        """Seconds between two steps (the trace's resolution)."""
        return self.times[1] - self.times[0] if len(self.times) > 1 else 0.0

    @property
    def window_end(self) -> float:
        """The end of the replayed window (``--to``)."""
        return self.end if self.end is not None else self.times[-1]

    @property
    def window_seconds(self) -> float:
        """How long the replayed window is, from the first step to its end."""
        return self.window_end - self.times[0] if self.times else 0.0

    def durations(self) -> tuple[float, ...]:
        """How long each step's state holds inside the window: until the next step, the last
        one until the window's end. They add up to ``window_seconds``, so a figure summed
        over the steps covers exactly the window (each of N steps counted as a whole step
        would count one step past its end)."""
        ends = (*self.times[1:], self.window_end)
        return tuple(end - time for time, end in zip(self.times, ends, strict=True))

    def phases_at(self, index: int) -> Mapping[str, PodPhase]:
        """The recorded pods' phases at step ``index`` (empty without a phase series)."""
        return self.phases[index] if self.phases else {}

    def pods_without_sample(self) -> list[str]:
        """The pods with a request but no usage sample at some step: without a phase series
        they are replayed as running pods without a sample (missing to the HPA), though they
        may have been Pending (unready) or Failed (ignored)."""
        names: set[str] = set()
        for series in self.resources.values():
            for usage, requests in zip(series.usage, series.requests, strict=True):
                names.update(name for name in requests if name not in usage)
        return sorted(names)

    def empty_series(self) -> list[str]:
        """Each series with no sample in the whole window: a wrong name, namespace or pod
        pattern, which would otherwise replay as a plausible but empty history."""
        empty = [
            f"{key.resource} usage{f' of container {key.container}' if key.container else ''}"
            for key, series in self.resources.items()
            if not any(series.usage)
        ]
        empty += [
            f"query {query!r}"
            for query, values in self.queries.items()
            if not any(value is not None for value in values)
        ]
        if all(count is None for count in self.replicas):
            empty.append("the replica count")
        return empty

    def __post_init__(self) -> None:
        lengths = {len(self.times), len(self.replicas)}
        lengths.update(len(s.usage) for s in self.resources.values())
        lengths.update(len(s.requests) for s in self.resources.values())
        lengths.update(len(values) for values in self.queries.values())
        if self.phases:
            lengths.add(len(self.phases))
        if len(lengths) != 1:
            raise ValueError(f"every series of a trace needs one value per step: {lengths}")
        if self.end is not None and self.times and self.end < self.times[-1]:
            raise ValueError(f"the window ends ({self.end}) before its last step")


__all__ = ["PodSeries", "ResourceKey", "Trace"]
