"""Quantities at the extremes: decided from the exponent, never an arithmetic exception."""

from __future__ import annotations

import pytest

from podpilot.apimachinery.quantities import (
    MAX_INT64,
    QuantityError,
    milli_from_float,
    milli_value,
)


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1e999999999", MAX_INT64),  # overflowed the decimal context (decimal.Overflow)
        ("-1e400000", -MAX_INT64),
        ("1e99999999999999999", MAX_INT64),
        ("1e20", MAX_INT64),
        ("9.2e15", 9_200_000_000_000_000_000),
        ("1e-99999999", 1),  # was 0: a fraction of a thousandth rounds away from zero
        ("-1e-99999999", -1),
        ("0.0001", 1),
        ("0e999999999", 0),
    ],
)
def test_extreme_exponents_saturate_or_round_away_from_zero(text: str, milli: int) -> None:
    assert milli_value(text) == milli


@pytest.mark.parametrize("text", ["1e99999999999999999999", "1e-99999999999999999999"])
def test_exponents_beyond_any_decimal_are_not_quantities(text: str) -> None:
    with pytest.raises(QuantityError, match="out of range"):
        milli_value(text)


@pytest.mark.parametrize(
    ("value", "milli"), [(0.3, 300), (0.0001, 1), (0.1234, 124), (2.0, 2000), (0.0, 0)]
)
def test_a_float_is_rounded_up_to_milli_units_without_noise(value: float, milli: int) -> None:
    assert milli_from_float(value) == milli
