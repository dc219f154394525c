"""Process-wide handlers: kopf settings, API clients, the /metrics endpoint, health probes."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from podpilot.kube.clients import connect
from podpilot.observability.registry import serve
from podpilot.runtime import Runtime


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    own = runtime.settings
    settings.peering.lifetime = own.peering_lifetime
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    settings.execution.max_workers = own.max_concurrent_api_calls
    # Status is owned by each controller; kopf keeps its own bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="podpilot.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="podpilot.io", key="last-handled-configuration"
    )
    runtime.clients = connect(max_concurrent_calls=own.max_concurrent_api_calls)
    serve(own.metrics_address, own.metrics_port)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    if runtime.clients is not None:
        runtime.clients.close()


@kopf.on.probe(id="api")
def api_clients_ready(memo: kopf.Memo, **_: Any) -> bool:
    runtime: Runtime = memo.runtime
    return runtime.clients is not None
