"""The one registry every controller's metrics live in, and the server that exposes it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)


def serve(address: str, port: int) -> None:
    """Expose ``/metrics`` for the registry on ``address:port`` in a background thread."""
    start_http_server(port, addr=address, registry=REGISTRY)
