"""``apimachinery.quantities``: exact parsing, proven against the Kubernetes Python client."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as untyped_client_parse_quantity

from podpilot.apimachinery.quantities import (
    MAX_INT64,
    QuantityError,
    milli_value,
    parse_quantity,
    whole_value,
)

# The client ships no type hints.
client_parse_quantity = cast(Callable[[str], Decimal], untyped_client_parse_quantity)

digits = st.text(alphabet="0123456789", min_size=1, max_size=12)
numbers = st.one_of(
    digits,
    st.builds(lambda a, b: f"{a}.{b}", digits, digits),
    st.builds(lambda a: f"{a}.", digits),
    st.builds(lambda b: f".{b}", digits),
)
suffixes = st.one_of(
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E"]),
    st.sampled_from(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
    st.builds(
        lambda e, sign, exp: f"{e}{sign}{exp}",
        st.sampled_from("eE"),
        st.sampled_from(["", "+", "-"]),
        st.integers(min_value=0, max_value=30),
    ),
)
quantities = st.builds(
    lambda sign, number, suffix: f"{sign}{number}{suffix}",
    st.sampled_from(["", "+", "-"]),
    numbers,
    suffixes,
)


@settings(max_examples=1000)
@given(quantities)
def test_parse_quantity_matches_the_kubernetes_client(text: str) -> None:
    exact = parse_quantity(text)
    client = client_parse_quantity(text)
    # The client multiplies in Decimal's default 28-digit context; unary plus applies
    # the same rounding to the exact value. Below 28 digits the two are simply equal.
    assert +exact == client
    if len(exact.as_tuple().digits) <= 28:
        assert exact == client


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("100m", 100),
        ("1", 1000),
        ("1.5", 1500),
        ("0.1m", 1),
        ("-0.1m", -1),
        ("1Ki", 1024000),
        ("2e3", 2000000),
        ("123456789n", 124),
        ("1E", MAX_INT64),
    ],
)
def test_milli_value_rounds_up_like_quantity_milli_value(text: str, milli: int) -> None:
    assert milli_value(text) == milli


@settings(max_examples=500)
@given(quantities)
def test_milli_value_is_the_ceiling_of_a_thousandth(text: str) -> None:
    exact = client_parse_quantity(text) * 1000
    milli = milli_value(text)
    if abs(exact) < MAX_INT64:
        # Compare exactly: the default 28-digit context would round 1 - 1e-29 up to 1.
        with localcontext() as context:
            context.prec = 200
            assert abs(Decimal(milli) - exact) < 1
            assert abs(Decimal(milli)) >= abs(exact)


@pytest.mark.parametrize(
    "text", ["", "m", "1.2.3", "1 Gi", "1ki", "1K", "1e", "Gi", "--1", "1e1.5", "nan"]
)
def test_parse_quantity_rejects_text_outside_the_grammar(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


unsigned_integer_quantities = st.builds(
    lambda number, suffix: f"{number}{suffix}",
    st.one_of(st.integers(0, 10**19 - 1), st.integers(0, 10**6)).map(str),
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E"])
    | st.sampled_from(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
)


@settings(max_examples=1000)
@given(unsigned_integer_quantities)
def test_integer_text_takes_a_shortcut_with_the_same_thousandths(text: str) -> None:
    assert milli_value(text) == milli_value(parse_quantity(text))


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1n", 1),
        ("1000000n", 1),
        ("1000001n", 2),
        ("0n", 0),
        ("999u", 1),
        ("9999999999999999999E", MAX_INT64),
        ("00012Ki", 12288000),
        ("12345678901234567890", MAX_INT64),  # twenty digits: the exact path
    ],
)
def test_integer_text_edges(text: str, milli: int) -> None:
    assert milli_value(text) == milli


@pytest.mark.parametrize(
    ("quantity", "whole"),
    [("1Gi", 2**30), ("500M", 500_000_000), ("1e3", 1000), ("1.5", 2), ("1m", 1), ("-1.5", -1),
     (Decimal("0.2"), 1), (7, 7), ("0", 0)],
)  # fmt: skip
def test_whole_value_rounds_up_to_whole_units_as_quantity_value_does(
    quantity: str | Decimal | int, whole: int
) -> None:
    assert whole_value(quantity) == whole


@pytest.mark.parametrize("quantity", ["1 Gi", "", 1.5, True, None])
def test_whole_value_refuses_what_is_not_a_quantity(quantity: object) -> None:
    with pytest.raises(QuantityError):
        whole_value(quantity)
