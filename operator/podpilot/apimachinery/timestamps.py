"""RFC 3339 timestamps as Kubernetes writes them, to and from epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


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
