"""The one registry every controller's metrics live in, the process-wide series, and the
server that exposes it.

The exposition carries no ``*_created`` series: they double every counter and histogram and
no dashboard or alert reads them (Prometheus derives resets from the counters themselves).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from podpilot import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
PlatformCollector(registry=REGISTRY)  # python_info
GCCollector(registry=REGISTRY)  # python_gc_*

BUILD_INFO = Gauge(
    "podpilot_build_info",
    "Always 1; the labels name the running podpilot and Python versions.",
    ["version", "python_version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

LEADER = Gauge(
    "podpilot_leader",
    "1 while this replica may act (it holds the leader Lease, or runs without leader "
    "election); 0 while it stands by.",
    registry=REGISTRY,
)


SHARDS = Gauge(
    "podpilot_autoscaler_shards",
    "The number of shards the Autoscalers are split into on this replica (--shards; 1 "
    "without sharding).",
    registry=REGISTRY,
)
SHARDS_ACTED_FOR = Gauge(
    "podpilot_autoscaler_shards_acted_for",
    "Shards whose Autoscalers this replica evaluates now (without sharding: 1 while it may "
    "act, else 0).",
    registry=REGISTRY,
)


def report_shards(count: int, acted_for: Callable[[], int]) -> None:
    """Make the shard gauges read this replica's count and its shards at every scrape."""
    SHARDS.set(count)
    SHARDS_ACTED_FOR.set_function(lambda: float(acted_for()))


def report_leadership(may_act: Callable[[], bool]) -> None:
    """Make ``podpilot_leader`` read ``may_act`` at every scrape (no stale value between
    renewals: a Lease that lapsed reads 0 at once)."""
    LEADER.set_function(lambda: float(may_act()))


def report_not_acting() -> None:
    """Make the gauges of what this replica acts for read 0 (a start undone: nothing acts)."""
    LEADER.set_function(lambda: 0.0)
    SHARDS_ACTED_FOR.set_function(lambda: 0.0)


def serve(address: str, port: int) -> WSGIServer:
    """Expose ``/metrics`` for the registry on ``address:port`` in a background thread."""
    server, _thread = start_http_server(port, addr=address, registry=REGISTRY)
    return server


def stop_serving(server: WSGIServer) -> None:
    """Stop the server ``serve`` started and let its port go (blocks up to half a second)."""
    server.shutdown()
    server.server_close()
