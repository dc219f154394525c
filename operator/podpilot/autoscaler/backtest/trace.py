"""Recorded history, one value per step, as the backtest replays it. Pure.

Values are milli-units, as everywhere the engine reads them: usage and requests per pod for
a Resource or ContainerResource metric, one reduced value per PromQL query for a Prometheus
metric. A value missing at a step is absent from its mapping (pods) or None (queries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
    replica count (None where unknown), and the series of every metric of the specs."""

    times: tuple[float, ...]
    replicas: tuple[int | None, ...]
    resources: Mapping[ResourceKey, PodSeries]
    queries: Mapping[str, tuple[int | None, ...]]  # PromQL as written -> milli per step

    @property
    def step(self) -> float:
        """Seconds between two steps (the trace's resolution)."""
        return self.times[1] - self.times[0] if len(self.times) > 1 else 0.0

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
        if len(lengths) != 1:
            raise ValueError(f"every series of a trace needs one value per step: {lengths}")


__all__ = ["PodSeries", "ResourceKey", "Trace"]
