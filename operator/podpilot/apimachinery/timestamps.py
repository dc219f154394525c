"""RFC 3339 timestamps as Kubernetes writes them, to and from epoch seconds or datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_datetime(text: object) -> datetime | None:
    """An RFC 3339 string (``Z`` or an offset, fractions allowed) to an aware datetime.

    Anything else, including text that is not RFC 3339, is None. The API always writes UTC;
    a naive value is read as UTC so that arithmetic with aware values never raises.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_time(text: str | None) -> float | None:
    """``2026-11-25T19:40:01Z`` (fractions allowed) to epoch seconds; None stays None."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def format_time(epoch: float, precise: bool = False) -> str:
    """Epoch seconds to RFC 3339 UTC; ``precise`` keeps microseconds (for stored history)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if precise:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
