"""A PromQL instant-query result turned into one value, as the Autoscaler's spec asks.

Pure: the JSON ``data.result`` (vector or scalar) comes in, milli-units come out. An empty
vector is an error unless the metric says ``emptyResult: Zero``, because an unreachable
exporter makes a query return nothing, and reading that as 0 would scale a busy workload down.
An answer marked partial (``warnings``) is an error too: a sum over the stores that answered is
lower than the real one, and acting on it could scale down on missing data. Values that do not
fit the milli-unit range of a quantity (int64, as ``Quantity.MilliValue()``) are refused here,
before any arithmetic that could overflow.

Messages never quote the answer (its ``error``, ``warnings`` or samples): the server is chosen
by a tenant and could echo anything, so only counts, numbers and Prometheus's documented
``errorType`` words reach a status.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.quantities import MAX_INT64, milli_from_float

# The largest magnitude, in base units, whose milli-units fit in an int64.
MAX_VALUE = MAX_INT64 / 1000
# Prometheus's documented errorType values; any other is reported as "other".
ERROR_TYPES = frozenset(
    ("timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found")
)


class Reduction(enum.StrEnum):
    SUM = "Sum"
    MAX = "Max"
    MIN = "Min"
    AVERAGE = "Average"


class EmptyResult(enum.StrEnum):
    ERROR = "Error"
    ZERO = "Zero"


class ResultError(ValueError):
    """The result cannot be used; ``kind`` is ``empty_result``, ``bad_response`` or
    ``partial_response``."""

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
    except (TypeError, ValueError, IndexError):
        raise ResultError("bad_response", "a sample is not a [time, value] pair") from None
    if not math.isfinite(value):
        raise ResultError("bad_response", f"the query returned {value}, not a finite number")
    _check_fits(value, f"the query returned {value:.4g}")
    return timestamp, value


def _check_fits(value: float, what: str) -> None:
    if abs(value) > MAX_VALUE:
        raise ResultError(
            "bad_response", f"{what}, beyond the range of a quantity (|value| <= {MAX_VALUE:.4g})"
        )


def instant_query_result(document: Any) -> Any:
    """``data.result`` of an instant query's JSON answer, refusing failed or partial answers.

    Prometheus and Thanos mark a partial answer (a store or shard that did not answer) with
    ``warnings``; PromQL also warns there when a result is questionable. Either way the value
    is not the one the query asks for, so the metric is held rather than used. ``infos``
    (Prometheus 3) are informational and ignored.
    """
    if not isinstance(document, dict):
        raise ResultError("bad_response", "the answer is not a JSON object")
    if document.get("status") != "success":
        error_type = document.get("errorType")
        named = error_type if error_type in ERROR_TYPES else "other"
        raise ResultError("bad_response", f"the query failed (errorType {named})")
    warnings = document.get("warnings") or []
    if not isinstance(warnings, list):
        warnings = [warnings]
    if warnings:
        raise ResultError(
            "partial_response",
            f"the answer is partial or questionable: the server sent {len(warnings)} warning(s)",
        )
    data = document.get("data")
    if not isinstance(data, dict) or "result" not in data:
        raise ResultError("bad_response", "the answer has no data.result")
    return data["result"]


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
    for value in values:  # refused before fsum, which raises OverflowError past 1.8e308
        _check_fits(value, f"a series has the value {value:.4g}")
    if reduction is Reduction.MAX:
        total = max(values)
    elif reduction is Reduction.MIN:
        total = min(values)
    elif reduction is Reduction.AVERAGE:
        total = math.fsum(values) / len(values)
    else:
        total = math.fsum(values)
    _check_fits(total, f"the {reduction.value.lower()} of the series is {total:.4g}")
    milli = milli_from_float(total)
    return ReducedValue(milli, len(samples), max(t for t, _ in samples))


__all__ = [
    "EmptyResult",
    "ReducedValue",
    "Reduction",
    "ResultError",
    "instant_query_result",
    "reduce_samples",
    "samples_of",
]
