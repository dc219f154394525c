"""The one interface every metric source implements, and the readings it returns.

Values are integer milli-units, converted from quantities at this edge, so the engine never
sees a quantity string. Every error is a ``MetricSourceError`` that names the API it came
from, as the HPA's metrics client wraps its errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from podpilot.autoscaler.engine import PodMetric

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
