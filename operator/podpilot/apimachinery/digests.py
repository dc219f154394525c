"""One digest of JSON-like values: equal for equal values, whatever the order of their keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_digest(value: Any) -> bytes:
    """16 bytes of BLAKE2b over ``value`` as canonical JSON (sorted keys; what JSON cannot
    hold, a datetime say, as its ``str``). Kept in memory only, to tell a change: never a name
    or a label, so the function may change between versions."""
    canonical = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()
