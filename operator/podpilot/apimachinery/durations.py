"""Go ``time.Duration`` strings (``10.041s``, ``1m0s``, ``-1h30m``), as Kubernetes APIs write them.

The parser reads each part once, from where the previous one ended, so its time grows linearly
with the input: a long hostile string costs no more than reading it.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string, as Go's ``time.ParseDuration`` reads it.

    Raises:
        ValueError: If ``text`` is not a Go duration.
    """
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    if body[:1] in ("-", "+"):
        body = body[1:]
    if body == "0":
        return 0.0
    position, seconds = 0, 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            raise ValueError(f"not a Go duration: {_shortened(text)}")
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0:
        raise ValueError(f"not a Go duration: {_shortened(text)}")
    return sign * seconds


def _shortened(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"
