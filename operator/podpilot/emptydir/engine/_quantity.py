"""Quantities in whole units (bytes), on top of the exact parser in ``apimachinery.quantities``.

``whole_units`` is ``Quantity.Value()``, which ``apimachinery.quantities`` does not have yet.
"""

from decimal import ROUND_CEILING, Decimal

from podpilot.apimachinery.quantities import QuantityError, parse_quantity

__all__ = ["QuantityError", "quantity_to_bytes", "whole_units"]


def whole_units(value: Decimal) -> int:
    """An exact quantity value rounded up to whole units, as ``Quantity.Value()`` does."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def quantity_to_bytes(raw: object) -> int:
    """Parse a quantity and round it up to whole units, as ``Quantity.Value()`` does.

    Args:
        raw: The quantity as the API serves it (``"1Gi"``, ``"500M"``, ``"1e9"``). Plain integers
            are accepted too, because hand-built objects sometimes carry them.

    Returns:
        The value in whole units (bytes for memory and storage), rounded towards +infinity.

    Raises:
        QuantityError: If ``raw`` is not a quantity.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise QuantityError(f"not a quantity: {raw!r}")
    return whole_units(parse_quantity(raw))
