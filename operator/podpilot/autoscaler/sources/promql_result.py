"""A PromQL instant-query result turned into one value, as the Autoscaler's spec asks.

Pure: the JSON ``data.result`` (vector or scalar) comes in, milli-units come out. An empty
vector is an error unless the metric says ``emptyResult: Zero``, because an unreachable
exporter makes a query return nothing, and reading that as 0 would scale a busy workload down.
An answer marked partial (``warnings``) is an error too: a sum over the stores that answered is
lower than the real one, and acting on it could scale down on missing data. Values that do not
fit the milli-unit range of a quantity (int64, as ``Quantity.MilliValue()``) are refused here,
before any arithmetic that could overflow.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.quantities import MAX_INT64

# The largest magnitude, in base units, whose milli-units fit in an int64.
MAX_VALUE = MAX_INT64 / 1000
# How much of a server's warning text an error message quotes.
EXCERPT_CHARS = 200


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
    except (TypeError, ValueError, IndexError) as error:
        raise ResultError("bad_response", f"unreadable sample {raw!r}") from error
    if not math.isfinite(value):
        raise ResultError("bad_response", f"the query returned {text}, not a finite number")
    _check_fits(value, f"the query returned {excerpt(text, 40)}")
    return timestamp, value


def _check_fits(value: float, what: str) -> None:
    if abs(value) > MAX_VALUE:
        raise ResultError(
            "bad_response", f"{what}, beyond the range of a quantity (|value| <= {MAX_VALUE:.4g})"
        )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def instant_query_result(document: Any) -> Any:
    """``data.result`` of an instant query's JSON answer, refusing failed or partial answers.

    Prometheus and Thanos mark a partial answer (a store or shard that did not answer) with
    ``warnings``; PromQL also warns there when a result is questionable. Either way the value
    is not the one the query asks for, so the metric is held rather than used. ``infos``
    (Prometheus 3) are informational and ignored.
    """
    if not isinstance(document, dict):
        raise ResultError("bad_response", "the answer is not a JSON object")
    status = document.get("status")
    if status != "success":
        error = excerpt(str(document.get("error") or "no error given"))
        raise ResultError(
            "bad_response", f"the answer's status is {excerpt(str(status), 20)}: {error}"
        )
    warnings = document.get("warnings") or []
    if not isinstance(warnings, list):
        warnings = [warnings]
    if warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise ResultError(
            "partial_response",
            f"the answer is partial or questionable, the server warned: "
            f"{excerpt(str(warnings[0]))}{more}",
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
    # Round up to whole milli-units, as quantities do, so a tiny positive value stays positive;
    # the inner round drops binary noise (0.3 * 1000 is 300.00000000000006, not 301m).
    _check_fits(total, f"the {reduction.value.lower()} of the series is {total:.4g}")
    milli = math.ceil(round(total * 1000, 6))
    return ReducedValue(milli, len(samples), max(t for t, _ in samples))


__all__ = [
    "EmptyResult",
    "ReducedValue",
    "Reduction",
    "ResultError",
    "excerpt",
    "instant_query_result",
    "reduce_samples",
    "samples_of",
]
