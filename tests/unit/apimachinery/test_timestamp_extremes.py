"""RFC 3339 timestamps at the ends of time, read and written as the API server's ``metav1.Time``
does: Go holds year 0 and writes a time in UTC, so ``0001-01-01T00:00:00+01:00`` is
``0000-12-31T23:00:00Z``; a time in year 10000 in UTC (``9999-12-31T23:59:59-01:00``) has no
RFC 3339 form in UTC, and is read as text that is not a timestamp."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podpilot.apimachinery.timestamps import (
    EARLIEST_TIME,
    END_OF_TIME,
    format_datetime,
    format_time,
    parse_datetime,
    parse_time,
)

RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")
UNIX_DAY_ONE = date(1970, 1, 1).toordinal()
# Floats near year 9999 are 2**-15 s apart; a microsecond more for the rounding to it.
EPOCH_PRECISION = 2**-15 + 1e-6


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("0001-01-01T00:00:00+01:00", "0000-12-31T23:00:00Z"),
        ("0001-01-01T00:00:00+23:59", "0000-12-31T00:01:00Z"),
        ("0000-12-31T23:00:00Z", "0000-12-31T23:00:00Z"),
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ("0000-02-29T12:00:00Z", "0000-02-29T12:00:00Z"),  # year 0 is a leap year
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0099-06-01T00:00:00Z", "0099-06-01T00:00:00Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59Z"),
        ("2026-11-25T19:40:01+01:00", "2026-11-25T18:40:01Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59Z"),
    ],
)
def test_a_time_from_year_0_to_9999_in_utc_is_written_as_metav1_time_writes_it(
    text: str, written: str
) -> None:
    epoch = parse_time(text)
    assert epoch is not None
    assert format_time(epoch) == written
    assert parse_time(format_time(epoch, precise=True)) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:00:00-23:59",
        "0000-01-01T00:00:00+00:01",
        "0000-01-01T00:00:00+01:00",
    ],
)
def test_a_time_out_of_rfc3339s_years_in_utc_is_not_a_timestamp(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339 cannot write"):
        parse_time(text)
    assert parse_datetime(text) is None


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "0000-12-31T23:00:00Z", "9999-12-31T23:59:59-01:00"]
)
def test_a_datetime_is_never_one_that_cannot_be_written_in_utc(text: str) -> None:
    """Python's datetime holds neither year 0 nor 10000: the time is as if unparsable."""
    assert parse_datetime(text) is None


def test_the_first_year_is_written_with_four_digits() -> None:
    assert format_time(-62135596800.0) == "0001-01-01T00:00:00Z"  # strftime's %Y: "1-01-01"
    assert format_time(-59042995200.0, precise=True) == "0099-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "epoch", [EARLIEST_TIME - 1, END_OF_TIME, END_OF_TIME + 1, 1e300, math.nan, math.inf, -math.inf]
)
def test_seconds_out_of_the_years_rfc3339_writes_are_refused(epoch: float) -> None:
    with pytest.raises(ValueError, match="not a time from year 0 to 9999"):
        format_time(epoch)


@pytest.mark.parametrize("value", [5, 1.5, ["2026-01-01T00:00:00Z"], {"a": 1}])
def test_a_value_that_is_not_text_is_not_a_timestamp(value: object) -> None:
    with pytest.raises(ValueError, match="not RFC 3339 text"):
        parse_time(value)
    assert parse_datetime(value) is None


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_stays_nothing(value: object) -> None:
    assert parse_time(value) is None
    assert parse_datetime(value) is None


def test_a_naive_time_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    for zone in ("America/New_York", "Asia/Kolkata"):
        with local_zone(monkeypatch, zone):
            assert parse_time("2026-01-01T00:00:00") == parse_time("2026-01-01T00:00:00Z")
    assert parse_time("0001-01-01T00:00:00") == parse_time("0001-01-01T00:00:00Z")


def test_a_datetime_is_written_as_its_epoch_seconds_are() -> None:
    moment = datetime(2026, 12, 7, 5, 40, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(moment) == "2026-12-07T03:40:01Z" == format_time(moment.timestamp())
    assert format_datetime(moment, precise=True) == "2026-12-07T03:40:01.123456Z"
    with local_zone(pytest.MonkeyPatch(), "Asia/Kolkata"):
        assert format_datetime(datetime(2026, 12, 7, 5, 40, 1)) == "2026-12-07T05:40:01Z"


@contextmanager
def local_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


# --- properties over every year and offset ---------------------------------------------------


def in_milliseconds(moment: datetime) -> datetime:
    """``moment`` to the millisecond: epoch seconds near year 9999 are floats 30 microseconds
    apart, which can round a last microsecond up to the next second, never a millisecond."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


local_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2)),
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime(9999, 12, 31, 23, 59)),
).map(in_milliseconds)
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timedelta(minutes=minutes))


def written(local: datetime, offset: timedelta) -> str:
    """``local`` with ``offset``, as RFC 3339 writes it: ``Z`` for UTC, else ``+hh:mm``."""
    return local.replace(tzinfo=timezone(offset)).isoformat().replace("+00:00", "Z")


def epoch_of(local: datetime, offset: timedelta) -> float:
    """The epoch seconds of ``local`` at ``offset``, counted in days and seconds (an oracle
    that needs no datetime in year 0 or 10000)."""
    days = local.toordinal() - UNIX_DAY_ONE
    seconds = local.hour * 3600 + local.minute * 60 + local.second - offset.total_seconds()
    return days * 86400 + seconds + local.microsecond / 1e6


def expected_utc(local: datetime, offset: timedelta) -> str:
    """What ``metav1.Time`` writes for ``local`` at ``offset``: in UTC, year 0 included."""
    if epoch_of(local, offset) < epoch_of(datetime(1, 1, 1), timedelta(0)):
        # Less than a day before year 1: the last day of year 0.
        return f"0000-12-31T{local + timedelta(days=1) - offset:%H:%M:%S}Z"
    utc = local - offset
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


@given(local_times, offsets)
def test_any_rfc3339_time_is_read_and_written_back_or_refused_as_unparsable(
    local: datetime, offset: timedelta
) -> None:
    text = written(local, offset)
    epoch = epoch_of(local, offset)
    if epoch >= END_OF_TIME:
        with pytest.raises(ValueError):
            parse_time(text)
        assert parse_datetime(text) is None
        return
    parsed = parse_time(text)
    assert parsed is not None
    assert parsed == pytest.approx(epoch, abs=EPOCH_PRECISION)
    assert format_time(parsed) == expected_utc(local, offset)
    precise = format_time(parsed, precise=True)
    assert RFC3339_UTC.fullmatch(precise)
    assert parse_time(precise) == pytest.approx(parsed, abs=EPOCH_PRECISION)
    moment = parse_datetime(text)
    if moment is not None:
        assert moment.astimezone(UTC).timestamp() == pytest.approx(epoch, abs=EPOCH_PRECISION)
    else:
        assert epoch < epoch_of(datetime(1, 1, 1), timedelta(0))  # only year 0 has none


@given(st.floats(min_value=EARLIEST_TIME, max_value=END_OF_TIME, exclude_max=True))
def test_any_seconds_from_year_0_to_9999_are_written_as_rfc3339_and_read_back(
    epoch: float,
) -> None:
    for precise in (False, True):
        text = format_time(epoch, precise=precise)
        assert RFC3339_UTC.fullmatch(text)
        back = parse_time(text)
        assert back is not None
        assert back == pytest.approx(epoch, abs=EPOCH_PRECISION if precise else 1)


@given(st.integers(int(EARLIEST_TIME), int(END_OF_TIME) - 1))
def test_whole_seconds_round_trip_exactly(epoch: int) -> None:
    assert parse_time(format_time(epoch)) == epoch


def test_the_ends_themselves() -> None:
    assert format_time(EARLIEST_TIME) == "0000-01-01T00:00:00Z"
    last = parse_time("9999-12-31T23:59:59.999999Z")
    assert last is not None and last < END_OF_TIME
    assert format_time(last) == "9999-12-31T23:59:59Z"


def every_year_boundary() -> Iterator[str]:
    # The last millisecond: epoch seconds far from 1970 are floats a few microseconds apart,
    # which round the last microsecond up to the next year.
    for year in (0, 1, 399, 400, 1969, 1970, 9998, 9999):
        yield f"{year:04d}-01-01T00:00:00Z"
        yield f"{year:04d}-12-31T23:59:59.999Z"


@pytest.mark.parametrize("text", list(every_year_boundary()))
def test_the_first_and_last_moment_of_a_year_keep_their_year(text: str) -> None:
    epoch = parse_time(text)
    assert epoch is not None
    assert format_time(epoch)[:4] == text[:4]
