"""Kubernetes resource quantities ("250m", "1.5Gi", "2e3"), parsed exactly.

The grammar is the one apimachinery's ``resource.ParseQuantity`` accepts::

    quantity      ::= [sign] number suffix
    number        ::= digits | digits "." [digits] | "." digits
    suffix        ::= binarySI | decimalSI | ("e" | "E") [sign] digits
    binarySI      ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI     ::= n | u | m | "" | k | M | G | T | P | E

``parse_quantity`` returns the exact value as a ``Decimal``. ``milli_value`` returns
what ``Quantity.MilliValue()`` returns: the value in thousandths, rounded away from
zero, saturating at the int64 bounds instead of overflowing.

This module is pure: it imports nothing from Kubernetes client libraries (an
import-linter contract checks that), so the HPA engine and the audits can use it.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

__all__ = [
    "MAX_INT64",
    "QuantityError",
    "format_milli",
    "milli_value",
    "parse_quantity",
    "whole_value",
]

MAX_INT64 = 2**63 - 1

_QUANTITY = re.compile(
    r"""
    (?P<sign>[+-]?)
    (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
    (?P<suffix>[KMGTPE]i|[eE][+-]?[0-9]+|[numkMGTPE]?)
    """,
    re.VERBOSE,
)

_DECIMAL_SI_EXPONENTS = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SI_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = ("", "k", "M", "G", "T", "P", "E")
# What metrics APIs write nearly always ("123456789n", "20480Ki", "250m"): an unsigned integer
# and a suffix, whose thousandths integer arithmetic gives exactly. Nineteen digits at most, so
# that int() never meets a hostile length.
_UNSIGNED_INTEGER = re.compile(r"([0-9]{1,19})([numkMGTPE]?|[KMGTPE]i)")
# Per suffix, thousandths = value * multiplier // divisor, the division rounded up.
_INTEGER_MILLI_FACTORS = {
    **{
        suffix: (10 ** (exponent + 3), 1) if exponent >= -3 else (1, 10 ** -(exponent + 3))
        for suffix, exponent in _DECIMAL_SI_EXPONENTS.items()
    },
    **{suffix: (1000 << shift, 1) for suffix, shift in _BINARY_SI_EXPONENTS.items()},
}
# |value| >= 1e20 is more than MAX_INT64 thousandths; |value| < 1e-4 is under one thousandth.
_SATURATED_ABOVE_EXPONENT = 19
# ParseQuantity parses an exponent as an int64 and refuses larger ones; Python's decimal
# module refuses exponents past about 1e18 with InvalidOperation, so the bound is its own.
_MAX_EXPONENT = 10**17
_UNDER_A_THOUSANDTH_EXPONENT = -4


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity into its exact decimal value.

    Args:
        text: A quantity such as ``"100m"``, ``"1.5Gi"``, ``"-2e3"`` or ``"7"``.

    Returns:
        The exact value, e.g. ``Decimal("0.100")`` for ``"100m"``.

    Raises:
        QuantityError: If ``text`` does not follow the quantity grammar.
    """
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise QuantityError(
            f"quantities must match the regular expression of ParseQuantity: {text!r}"
        )
    sign, number, suffix = match["sign"], match["number"], match["suffix"]
    if suffix in _BINARY_SI_EXPONENTS:
        with localcontext() as context:
            # Wide enough that multiplying by a power of two never rounds.
            context.prec = len(number) + 30
            return Decimal(sign + number) * Decimal(2 ** _BINARY_SI_EXPONENTS[suffix])
    exponent = _DECIMAL_SI_EXPONENTS.get(suffix)
    if exponent is None:
        exponent = int(suffix[1:])
    if abs(exponent) > _MAX_EXPONENT:
        raise QuantityError(f"the exponent of {text[:40]!r} is out of range")
    return Decimal(f"{sign}{number}E{exponent}")


def milli_value(quantity: str | Decimal | int) -> int:
    """Return a quantity in integer thousandths, like ``Quantity.MilliValue()``.

    A fraction of a thousandth rounds away from zero (``"0.1m"`` gives 1). Where Go
    would overflow int64, the result saturates at plus or minus ``MAX_INT64``.

    Args:
        quantity: Quantity text, or an already parsed value.

    Returns:
        The value times 1000, as an integer.

    Raises:
        QuantityError: If ``quantity`` is text that is not a Kubernetes quantity.
    """
    if isinstance(quantity, str):
        integer = _UNSIGNED_INTEGER.fullmatch(quantity)
        if integer is not None:
            multiplier, divisor = _INTEGER_MILLI_FACTORS[integer[2]]
            return min(MAX_INT64, -(-int(integer[1]) * multiplier // divisor))
        value = parse_quantity(quantity)
    else:
        value = Decimal(quantity)
    if value.is_zero():
        return 0
    # Decided from the exponent alone at the extremes ("1e999999999" would overflow the
    # decimal context; "1e400000" would build a 400,000-digit integer only to saturate it).
    if value.adjusted() > _SATURATED_ABOVE_EXPONENT:
        return MAX_INT64 if value > 0 else -MAX_INT64
    if value.adjusted() < _UNDER_A_THOUSANDTH_EXPONENT:
        return 1 if value > 0 else -1  # a fraction of a thousandth, away from zero
    with localcontext() as context:
        context.prec = max(64, len(str(value)) + 10)
        scaled = value.scaleb(3)
        rounding = ROUND_CEILING if scaled >= 0 else ROUND_FLOOR
        milli = int(scaled.to_integral_value(rounding=rounding))
    return max(-MAX_INT64, min(MAX_INT64, milli))


def whole_value(quantity: object) -> int:
    """Return a quantity rounded up to whole units, like ``Quantity.Value()`` (bytes for memory
    and storage).

    Args:
        quantity: Quantity text as the API serves it (``"1Gi"``, ``"500M"``, ``"1e9"``), an
            already parsed value, or a plain integer (hand-built objects carry them).

    Raises:
        QuantityError: If ``quantity`` is neither a quantity's text nor a number.
    """
    if isinstance(quantity, int) and not isinstance(quantity, bool):
        return quantity
    if isinstance(quantity, str):
        quantity = parse_quantity(quantity)
    if not isinstance(quantity, Decimal):
        raise QuantityError(f"not a quantity: {quantity!r}")
    return int(quantity.to_integral_value(rounding=ROUND_CEILING))


def milli_from_float(value: float) -> int:
    """A float (a PromQL sample) in whole thousandths, rounded up as a quantity's are, so that
    a tiny positive value stays positive; the product's binary noise is dropped first
    (``0.3 * 1000`` is ``300.00000000000006``: 300, not 301)."""
    return math.ceil(round(value * 1000, 6))


def format_milli(milli: int) -> str:
    """Milli-units back to quantity text, canonical as Go's ``Quantity.String()`` (DecimalSI).

    ``1500`` -> ``"1500m"``, ``2000`` -> ``"2"``, ``3_000_000`` -> ``"3k"``.
    """
    if milli % 1000:
        return f"{milli}m"
    whole = milli // 1000
    step = 0
    while whole and whole % 1000 == 0 and step < len(_DECIMAL_SUFFIXES) - 1:
        whole //= 1000
        step += 1
    return f"{whole}{_DECIMAL_SUFFIXES[step]}"
