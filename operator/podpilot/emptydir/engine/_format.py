"""Human-readable sizes and durations for finding messages."""

_UNITS = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def format_bytes(value: int | None) -> str:
    """Render bytes with a binary suffix: exact when divisible, else to one decimal.

    Args:
        value: Bytes, or ``None``.

    Returns:
        e.g. ``"1Gi"``, ``"1.5Gi"``, ``"512"``, or ``"unknown"``.
    """
    if value is None:
        return "unknown"
    suffix = ""
    scaled = float(value)
    for unit in _UNITS:
        if abs(scaled) < 1024:
            break
        scaled /= 1024
        suffix = unit
    if scaled.is_integer():
        return f"{int(scaled)}{suffix}"
    return f"{scaled:.1f}{suffix}"


def format_seconds(seconds: float) -> str:
    """Render a duration as hours and minutes, e.g. ``"2h05m"`` or ``"7m"``.

    Args:
        seconds: Non-negative seconds.

    Returns:
        The rounded duration.
    """
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
