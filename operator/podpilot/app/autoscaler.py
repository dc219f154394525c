"""kopf handlers of the Autoscaler controller: one daemon per Autoscaler, reading the pod and
Deployment caches that ``autoscaler.object_watches`` keeps outside kopf."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.apimachinery.group import API_VERSION, GROUP, VERSION
from podpilot.app.runtime import AutoscalerParts, Runtime
from podpilot.autoscaler.api.result import Event
from podpilot.autoscaler.controller.evaluator import Services
from podpilot.autoscaler.controller.loop import (
    AutoscalerLoop,
    Controller,
    run_once,
    run_until_stopped,
)
from podpilot.autoscaler.controller.object_watches import ObjectWatches
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.clients import MAX_CONCURRENT_STATUS_WRITES
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.custom_objects import StatusWriter
from podpilot.kube.discovery import Discovery
from podpilot.kube.events import EventPoster
from podpilot.kube.scale import ScaleClient
from podpilot.observability import autoscaler_metrics

PLURAL = "autoscalers"
COMPONENT = "podpilot-autoscaler"


def configure(settings: kopf.OperatorSettings) -> None:
    """Nothing of kopf's settings is the Autoscaler's own."""


async def start(runtime: Runtime) -> None:
    clients, settings = runtime.api(), runtime.settings
    discovery = Discovery(clients)
    writer = StatusWriter(clients, PLURAL)

    async def write_status(key: tuple[str, str], status: Mapping[str, Any]) -> None:
        await writer.patch(*key, status)

    controller = Controller(
        services=Services(
            scale=ScaleClient(clients, discovery),
            sources=MetricSources.build(
                clients,
                discovery,
                settings.resource_metrics_max_age,
                prometheus_concurrency=settings.prometheus_concurrency,
            ),
            hpa=settings.hpa,
        ),
        status=CoalescingWriter(write_status, MAX_CONCURRENT_STATUS_WRITES),
        bucket=TokenBucket(settings.retry_rate_per_second, settings.retry_burst),
        backoff_base=settings.failure_backoff_base,
        backoff_cap=settings.failure_backoff_max,
        recorder=autoscaler_metrics.RECORDER,
    )
    watches = ObjectWatches(clients, settings.namespaces)
    watches.start()
    runtime.autoscaler = AutoscalerParts(controller, watches, EventPoster(clients))


async def stop(runtime: Runtime) -> None:
    """Stop the pod and Deployment watches, and close the Prometheus connections (this also
    removes their TLS files)."""
    parts = runtime.autoscaler
    if parts is None:
        return
    parts.watches.stop()
    parts.controller.services.sources.prometheus.close()
    await parts.controller.status.close()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def autoscaler(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    meta: kopf.Meta,
    status: kopf.Status,
    stopped: kopf.DaemonStopped,
    memo: Any,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """Evaluate this Autoscaler every evaluation period until it is deleted."""
    assert namespace is not None, "Autoscaler is a namespaced resource"
    runtime: Runtime = memo.runtime
    parts = runtime.autoscaler_parts()
    controller, watches = parts.controller, parts.watches
    await watches.synced()  # no decision on a half-filled pod cache
    loop = AutoscalerLoop.resume(namespace, name, dict(status), time.time())
    watched = watches.objects

    about = ObjectRef(API_VERSION, "Autoscaler", name, namespace, meta.get("uid"))
    posting: set[asyncio.Task[bool]] = set()

    def post(event: Event) -> None:
        # Not awaited: an Event must never hold up an evaluation (the poster bounds and logs it).
        spec = EventSpec(about, event.type, event.reason, event.message, COMPONENT)
        task = asyncio.create_task(parts.events.post(spec, datetime.now(UTC)))
        posting.add(task)
        task.add_done_callback(posting.discard)

    await run_until_stopped(
        loop,
        controller,
        lambda: run_once(
            loop, controller, body.get("spec", {}), meta.get("generation"), watched, post, logger
        ),
        stopped,
        logger,
    )
    controller.status.discard((namespace, name))
    controller.recorder.forget(namespace, name)
