"""How an unexpected exception is shown in a condition, an Event or a metric's error: its
class and a short text, never a traceback (that goes to the operator's log only)."""

from __future__ import annotations

SUMMARY_CHARS = 200


def error_summary(error: BaseException) -> str:
    """``OverflowError: cannot convert float infinity to integer``, on one line, bounded."""
    text = " ".join(str(error).split())
    if len(text) > SUMMARY_CHARS:
        text = text[:SUMMARY_CHARS] + "..."
    name = type(error).__name__
    return f"{name}: {text}" if text else name


__all__ = ["error_summary"]
