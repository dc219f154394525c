"""The one interface every metric source implements, and the readings it returns.

Values are integer milli-units, converted from quantities at this edge, so the engine never
sees a quantity string. Every error is a ``MetricSourceError`` that names the API it came
from, as the HPA's metrics client wraps its errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from podpilot.autoscaler.api.proposals import BoundEngineCall, Proposed, value_or_average_value
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    PodInfo,
    PodMetric,
    Tolerances,
    external_metric_replicas,
    external_per_pod_metric_replicas,
)

if TYPE_CHECKING:
    from .registry import MetricSources

Query = TypeVar("Query", contravariant=True)
Reading = TypeVar("Reading", covariant=True)


class MetricSourceError(Exception):
    """A metric could not be read; ``api`` says from where, the message says why.

    ``kind`` is a short word from a closed set (``unreachable``, ``timeout``, ...) for
    podpilot's own metrics, whose labels must stay bounded; ``error`` when unclassified.
    """

    def __init__(self, api: str, message: str, kind: str = "error") -> None:
        super().__init__(f"unable to fetch metrics from {api}: {message}")
        self.api = api
        self.kind = kind


@dataclass(frozen=True)
class PodReadings:
    """One sample per pod name (resource metrics and Pods metrics)."""

    samples: Mapping[str, PodMetric]


@dataclass(frozen=True)
class ObjectReading:
    """The value of a metric describing one object."""

    value: int
    timestamp: float


@dataclass(frozen=True)
class ExternalReadings:
    """All values an external metric query returned (the HPA sums them)."""

    values: tuple[int, ...]
    timestamp: float


class MetricSource(Protocol[Query, Reading]):
    """A metrics API: turns a query into a reading, or raises ``MetricSourceError``."""

    api: str

    async def read(self, query: Query) -> Reading: ...


@dataclass(frozen=True)
class EvaluationContext:
    """What every metric reader of one Autoscaler needs in one evaluation."""

    namespace: str
    now: float
    period: float
    current_replicas: int
    status_replicas: int
    pod_selector: str
    pods: Sequence[PodInfo]
    tolerances: Tolerances
    settings: CalculatorSettings
    sources: MetricSources

    def value_or_average_value(
        self,
        spec: MetricSpec,
        total: int,
        value_replicas: BoundEngineCall,
        average_value_replicas: BoundEngineCall,
    ) -> Proposed:
        """``api.proposals.value_or_average_value`` with this evaluation's counts."""
        return value_or_average_value(
            spec,
            total,
            current_replicas=self.current_replicas,
            status_replicas=self.status_replicas,
            pods=self.pods,
            tolerances=self.tolerances,
            value_replicas=value_replicas,
            average_value_replicas=average_value_replicas,
        )

    def external_values(self, spec: MetricSpec, values: tuple[int, ...]) -> Proposed:
        """External-style math (Value or AverageValue) on values the HPA would sum."""
        return self.value_or_average_value(
            spec,
            sum(values),
            value_replicas=partial(external_metric_replicas, values=values),
            average_value_replicas=partial(external_per_pod_metric_replicas, values=values),
        )


# Reads one spec metric from its source and computes its proposal.
MetricReader = Callable[[MetricSpec, EvaluationContext], Awaitable[Proposed]]
