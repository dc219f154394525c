"""Exact Kubernetes quantity parsing for the audit, until ``podpilot.quantity`` lands.

The shared parser in ``podpilot/quantity.py`` was still a placeholder when the audit was written,
so this module carries a small parser with the same grammar as apimachinery's
``resource.ParseQuantity``. Only :func:`quantity_to_bytes` is used by the rest of the package; swap
its body for the shared parser once that exists.
"""

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_BINARY_SUFFIXES = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


class QuantityError(ValueError):
    """Raised when a string is not a valid Kubernetes quantity."""


def parse_quantity(text: object) -> Decimal:
    """Parse a Kubernetes quantity exactly.

    Args:
        text: The quantity as the API serves it, e.g. ``"1Gi"``, ``"500M"``, ``"1e9"``. Integers
            are accepted too, because YAML-authored objects sometimes carry them.

    Returns:
        The exact value as a Decimal.

    Raises:
        QuantityError: If ``text`` is not a quantity.
    """
    if isinstance(text, bool):
        raise QuantityError(f"not a quantity: {text!r}")
    if isinstance(text, int):
        return Decimal(text)
    if not isinstance(text, str):
        raise QuantityError(f"not a quantity: {text!r}")
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise QuantityError(f"not a quantity: {text!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"not a quantity: {text!r}") from error
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def quantity_to_bytes(text: object) -> int:
    """Parse a quantity and round it up to whole units, as ``Quantity.Value()`` does.

    Args:
        text: The quantity to parse.

    Returns:
        The value in whole units (bytes for memory and storage), rounded towards +infinity.

    Raises:
        QuantityError: If ``text`` is not a quantity.
    """
    return int(parse_quantity(text).to_integral_value(rounding=ROUND_CEILING))
