"""A PromQL instant-query result turned into one value, as the Autoscaler's spec asks.

Pure: the JSON ``data.result`` (vector or scalar) comes in, milli-units come out. An empty
vector is an error unless the metric says ``emptyResult: Zero``, because an unreachable
exporter makes a query return nothing, and reading that as 0 would scale a busy workload down.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Reduction(enum.StrEnum):
    SUM = "Sum"
    MAX = "Max"
    MIN = "Min"
    AVERAGE = "Average"


class EmptyResult(enum.StrEnum):
    ERROR = "Error"
    ZERO = "Zero"


class ResultError(ValueError):
    """The result cannot be used; ``kind`` is ``empty_result`` or ``bad_response``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ReducedValue:
    """The value in milli-units, how many series made it, and the newest sample time."""

    milli: int
    series: int
    timestamp: float


def _sample(raw: Any) -> tuple[float, float]:
    """``[timestamp, "value"]`` to floats; NaN and infinities are refused."""
    try:
        timestamp, text = float(raw[0]), str(raw[1])
        value = float(text)
    except (TypeError, ValueError, IndexError) as error:
        raise ResultError("bad_response", f"unreadable sample {raw!r}") from error
    if not math.isfinite(value):
        raise ResultError("bad_response", f"the query returned {text}, not a finite number")
    return timestamp, value


def samples_of(result: Any) -> list[tuple[float, float]]:
    """Every sample of an instant query's ``data.result``.

    A vector is a list of series (``{"metric": ..., "value": [t, "v"]}``); a scalar is the
    bare pair ``[t, "v"]`` (``prometheus-api-client`` hands back ``data.result`` only).
    """
    if not isinstance(result, list):
        raise ResultError("bad_response", "the query must return an instant vector or a scalar")
    if len(result) == 2 and isinstance(result[0], int | float) and isinstance(result[1], str):
        return [_sample(result)]
    samples = []
    for series in result:
        if not isinstance(series, dict) or "value" not in series:
            raise ResultError("bad_response", "the query must return an instant vector or a scalar")
        samples.append(_sample(series["value"]))
    return samples


def reduce_samples(
    samples: Sequence[tuple[float, float]], reduction: Reduction, empty: EmptyResult
) -> ReducedValue:
    """One value from all series; an empty result is an error unless ``empty`` is Zero."""
    if not samples:
        if empty is EmptyResult.ZERO:
            return ReducedValue(0, 0, 0.0)
        raise ResultError(
            "empty_result",
            "the query returned no series (emptyResult: Error; set emptyResult: Zero if an "
            "empty result means zero)",
        )
    values = [value for _, value in samples]
    if reduction is Reduction.MAX:
        total = max(values)
    elif reduction is Reduction.MIN:
        total = min(values)
    elif reduction is Reduction.AVERAGE:
        total = math.fsum(values) / len(values)
    else:
        total = math.fsum(values)
    # Round up to whole milli-units, as quantities do, so a tiny positive value stays positive;
    # the inner round drops binary noise (0.3 * 1000 is 300.00000000000006, not 301m).
    milli = math.ceil(round(total * 1000, 6))
    return ReducedValue(milli, len(samples), max(t for t, _ in samples))


__all__ = [
    "EmptyResult",
    "ReducedValue",
    "Reduction",
    "ResultError",
    "reduce_samples",
    "samples_of",
]
