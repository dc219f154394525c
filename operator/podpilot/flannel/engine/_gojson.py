"""Read decoded JSON the way Go's ``encoding/json`` fills a struct.

flanneld decodes net-conf.json and the backend-data annotations with ``json.Unmarshal``, which
matches object keys to struct fields case-insensitively (an exact match wins) and leaves a
field at its default when the value is ``null``. Reading our copy the same way keeps us from
flagging configurations that flanneld itself accepts.
"""

from collections.abc import Mapping
from typing import Any


def go_field(obj: Mapping[str, Any], name: str) -> Any:
    """Return the value Go would decode into field ``name``, or None when absent or null."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return None


def is_go_int(value: Any) -> bool:
    """True for a JSON integer (Python's bool is an int, but Go rejects it)."""
    return isinstance(value, int) and not isinstance(value, bool)
