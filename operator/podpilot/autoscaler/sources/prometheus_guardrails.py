"""The URL checks of the limits an admin sets on every ``PrometheusServer``
(``settings.PrometheusLimits``), whoever created it.

A ``PrometheusServer``'s URL is chosen by anyone who may create one in their namespace, so the
server at the other end is not trusted: its answer is read up to ``max_response_bytes`` and
``max_series``, within ``max_query_seconds`` in total however slowly it trickles, with at
most ``per_server_concurrency`` queries in flight to one server, and only at URLs the
``allowed_urls`` list admits. Pure: no I/O here.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def _origin(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and path of ``url``, in the case-insensitive parts lower-cased."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1  # an invalid port matches no entry
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path


def _under(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` or below it, on a segment boundary (``/prom`` admits
    ``/prom/x``, not ``/prometheus``)."""
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def url_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """``url`` is admitted by one entry of ``allowed`` (or ``allowed`` is empty).

    An entry with ``://`` is a URL prefix: the same scheme, host and port, and a path at or
    below the entry's. Compared parsed, not as strings, so ``https://prom.example`` does not
    admit ``https://prom.example.evil.io`` nor ``https://prom.example@evil.io``. An entry
    without ``://`` is a host name that admits any scheme and port on exactly that host.
    """
    if not allowed:
        return True
    scheme, host, port, path = _origin(url)
    if not host or port == -1 or urlsplit(url.strip()).username is not None:
        return False
    for entry in allowed:
        if "://" not in entry:
            if host == entry.strip().lower():
                return True
            continue
        want_scheme, want_host, want_port, want_path = _origin(entry)
        if (scheme, host, port) == (want_scheme, want_host, want_port) and _under(path, want_path):
            return True
    return False


def credentials_over_plain_http(url: str, sends_credentials: bool, allow_plain_http: bool) -> bool:
    """Credentials would go over plain http without the server allowing it explicitly."""
    return sends_credentials and not allow_plain_http and _origin(url)[0] != "https"


__all__ = ["credentials_over_plain_http", "url_allowed"]
