"""The number types of ``podpilot run``'s flags: a value, or argparse's one-line reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from podpilot.commands.conventions import non_negative_number
from podpilot.commands.run import MAX_SHARDS, positive_seconds, shard_count

TIMEOUT_BOUNDS = (
    "a timeout must be above 0 (podpilot always bounds a call) and at most 86400 seconds (24h0m0s)"
)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (non_negative_number, "0", 0.0),
        (non_negative_number, "0.25", 0.25),
        (positive_seconds, "7.5", 7.5),
        (shard_count, "1", 1),
        (shard_count, str(MAX_SHARDS), MAX_SHARDS),
    ],
)
def test_a_value_in_range_is_read(
    parse: Callable[[str], float], text: str, expected: float
) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (non_negative_number, "ten", "'ten' is not a number"),
        (non_negative_number, "-0.1", "'-0.1': cannot be negative"),
        (non_negative_number, "nan", "'nan' is not a number"),
        (positive_seconds, "30s", "'30s' is not a number of seconds"),
        (positive_seconds, "0", f"'0': {TIMEOUT_BOUNDS}"),
        (positive_seconds, "inf", "'inf' is not a number of seconds"),
        (positive_seconds, "nan", "'nan' is not a number of seconds"),
        (positive_seconds, "1e10", f"'1e10': {TIMEOUT_BOUNDS}"),
        (shard_count, "1.5", "'1.5' is not a shard count"),
        (shard_count, "0", f"'0': a shard count is from 1 to {MAX_SHARDS}"),
        (
            shard_count,
            str(MAX_SHARDS + 1),
            f"'{MAX_SHARDS + 1}': a shard count is from 1 to {MAX_SHARDS}",
        ),
    ],
)
def test_a_value_that_is_not_a_number_or_out_of_range_says_why(
    parse: Callable[[str], float], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)

    assert str(raised.value) == message
