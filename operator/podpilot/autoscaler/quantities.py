"""Milli-units back to Kubernetes quantity text, canonical as Go's ``Quantity.String()``."""

from __future__ import annotations

_DECIMAL_SUFFIXES = ("", "k", "M", "G", "T", "P", "E")


def format_milli(milli: int) -> str:
    """``1500`` -> ``"1500m"``, ``2000`` -> ``"2"``, ``3_000_000`` -> ``"3k"`` (DecimalSI)."""
    if milli % 1000:
        return f"{milli}m"
    whole = milli // 1000
    step = 0
    while whole and whole % 1000 == 0 and step < len(_DECIMAL_SUFFIXES) - 1:
        whole //= 1000
        step += 1
    return f"{whole}{_DECIMAL_SUFFIXES[step]}"
