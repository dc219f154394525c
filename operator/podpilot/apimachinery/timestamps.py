"""RFC 3339 timestamps as Kubernetes writes them, to and from epoch seconds or datetimes.

The API server's times (Go's ``time.Time`` in a ``metav1.Time``) hold any year and are written
in UTC; RFC 3339 has four digits for the year, so the times that can be written, and read back,
run from year 0 to 9999 in UTC. ``0001-01-01T00:00:00+01:00`` is such a time, an hour into
year 0 (``0000-12-31T23:00:00Z``), though Python's ``datetime`` starts at year 1: a time in
year 0 is handled 400 years later, where the Gregorian calendar repeats itself exactly. A time
in year 10000 (``9999-12-31T23:59:59-01:00``) has no UTC form RFC 3339 can write, so it is read
as text that is not a timestamp.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_CYCLE_YEARS = 400
_CYCLE = timedelta(days=146_097)  # 400 Gregorian years, leap days included
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch seconds of 0000-01-01T00:00:00Z, the first time RFC 3339 writes in UTC.
EARLIEST_TIME = (datetime(_CYCLE_YEARS, 1, 1, tzinfo=UTC) - _UNIX_EPOCH - _CYCLE).total_seconds()
# Epoch seconds of 10000-01-01T00:00:00Z: every time RFC 3339 writes in UTC is before it.
END_OF_TIME = (datetime(9999, 12, 31, tzinfo=UTC) - _UNIX_EPOCH + timedelta(days=1)).total_seconds()
_FIRST_DATETIME = (datetime.min.replace(tzinfo=UTC) - _UNIX_EPOCH).total_seconds()
_LEADING_YEAR = re.compile(r"[0-9]{4}")


def parse_datetime(text: object) -> datetime | None:
    """An RFC 3339 string (``Z`` or an offset, fractions allowed) to an aware datetime.

    Anything else, including text that is not RFC 3339, is None; so is a time a datetime cannot
    hold in UTC (one in year 0 or 10000), which could not be written back as the API writes
    times. The API always writes UTC; a naive value is read as UTC so that arithmetic with aware
    values never raises.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = _aware(text)
        parsed.astimezone(UTC)  # raises for a time in year 0 or 10000
    except (ValueError, OverflowError):
        return None
    return parsed


def parse_time(text: object) -> float | None:
    """``2026-11-25T19:40:01Z`` (fractions allowed, an offset too) to epoch seconds; None and
    empty text stay None. A naive value is read as UTC, as ``parse_datetime`` reads it.

    Raises:
        ValueError: If ``text`` is not RFC 3339 text, or is a time RFC 3339 cannot write in
            UTC (before year 0 or after year 9999 there): ``format_time`` formats every time
            this returns.
    """
    if not text:
        return None
    if not isinstance(text, str):
        raise ValueError(f"not RFC 3339 text: {text!r}")
    year = text[:4]
    # Years 0 to 399 are read 400 years later: year 0, and year 1 with a positive offset,
    # are then within datetime's range.
    shifted = _LEADING_YEAR.fullmatch(year) is not None and int(year) < _CYCLE_YEARS
    written = f"{int(year) + _CYCLE_YEARS:04d}{text[4:]}" if shifted else text
    try:
        in_utc = _aware(written).astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{text!r} is after year 9999 in UTC, which RFC 3339 cannot write"
        ) from None
    since_1970 = in_utc - _UNIX_EPOCH - (_CYCLE if shifted else timedelta(0))
    epoch = since_1970.total_seconds()
    if epoch < EARLIEST_TIME:
        raise ValueError(f"{text!r} is before year 0 in UTC, which RFC 3339 cannot write")
    # Seconds near the year 9999 are floats 30 microseconds apart: the last microsecond of
    # that year rounds up to the end of time, which format_time would refuse.
    return min(epoch, math.nextafter(END_OF_TIME, -math.inf))


def format_time(epoch: float, precise: bool = False) -> str:
    """Epoch seconds to RFC 3339 UTC, as ``metav1.Time`` writes it (``0000-12-31T23:00:00Z``
    for a time in year 0); ``precise`` keeps microseconds (for stored history).

    Raises:
        ValueError: If ``epoch`` is not a time from year 0 to 9999 (NaN included).
    """
    if not EARLIEST_TIME <= epoch < END_OF_TIME:
        raise ValueError(f"{epoch!r} seconds since 1970 is not a time from year 0 to 9999")
    since_1970 = timedelta(seconds=epoch)
    if epoch < _FIRST_DATETIME:
        moment, years_back = _UNIX_EPOCH + _CYCLE + since_1970, _CYCLE_YEARS
    else:
        moment, years_back = _UNIX_EPOCH + since_1970, 0
    fraction = f".{moment.microsecond:06d}" if precise else ""
    # Built field by field: strftime's %Y writes year 1 as "1", not "0001".
    return (
        f"{moment.year - years_back:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}Z"
    )


def format_datetime(moment: datetime, precise: bool = False) -> str:
    """A datetime as ``format_time`` writes it (a naive one read as UTC, as everywhere here):
    ``2026-11-25T19:40:01Z``; ``precise`` keeps microseconds (a ``metav1.MicroTime``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return format_time((aware - _UNIX_EPOCH).total_seconds(), precise)


def _aware(text: str) -> datetime:
    """``text`` as ``datetime.fromisoformat`` reads it, naive read as UTC.

    Raises:
        ValueError: If it does not read it.
    """
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
