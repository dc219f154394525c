from __future__ import annotations

import time

import pytest

from podpilot.apimachinery.durations import parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("10.041s", 10.041),
        ("1m0s", 60.0),
        ("1h2m3.5s", 3723.5),
        ("250ms", 0.25),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("0", 0.0),
        ("-2s", -2.0),
        ("+3m", 180.0),
    ],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "1d", "1h foo", "PT5M", "ten seconds", "-"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    "hostile", ["1" * 1_000_000, "1s" * 500_000, "1.1" * 300_000 + "x", "1s" * 300_000 + "1"]
)
def test_hostile_input_is_read_in_linear_time(hostile: str) -> None:
    # A parser that rescans from every position needs hours for these; a linear one needs
    # milliseconds. The bound only separates the two (it is not a speed target).
    started = time.perf_counter()
    try:
        parse_go_duration(hostile)
    except ValueError as error:
        assert len(str(error)) < 120  # the message quotes a prefix, never the whole input
    assert time.perf_counter() - started < 5.0
