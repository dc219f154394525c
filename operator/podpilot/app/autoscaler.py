"""kopf handlers of the Autoscaler controller: one daemon per Autoscaler, reading the pod and
Deployment caches that ``autoscaler.object_watches`` keeps outside kopf."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.apimachinery.events import EventSpec, ObjectRef
from podpilot.apimachinery.group import API_VERSION, GROUP, VERSION
from podpilot.app.fault_hooks import scale_write_hooks
from podpilot.app.runtime import AutoscalerParts, Runtime
from podpilot.autoscaler.api.result import EvaluationResult, Event
from podpilot.autoscaler.api.spec import AutoscalerSpec, SpecError, parse_spec
from podpilot.autoscaler.controller.evaluator import Services
from podpilot.autoscaler.controller.loop import (
    MIN_EVALUATION_DEADLINE,
    AutoscalerLoop,
    Controller,
    claim_target,
    run_once,
    run_until_stopped,
)
from podpilot.autoscaler.controller.object_watches import ObjectWatches
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.clients import MAX_CONCURRENT_STATUS_WRITES
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.custom_objects import PodpilotObjects
from podpilot.kube.discovery import Discovery
from podpilot.kube.events import EventPoster
from podpilot.kube.scale import ScaleClient
from podpilot.observability import autoscaler_metrics

PLURAL = "autoscalers"
FIELD_MANAGER = "podpilot"
COMPONENT = "podpilot-autoscaler"
STANDBY_POLL_SECONDS = 1.0
"""How often a daemon of a replica that is not the leader looks whether it has become one."""


def configure(settings: kopf.OperatorSettings) -> None:
    """Nothing of kopf's settings is the Autoscaler's own."""


async def start(runtime: Runtime) -> None:
    clients, settings = runtime.api(), runtime.settings
    discovery = Discovery(clients)
    autoscalers = PodpilotObjects(clients, PLURAL, namespaced=True)
    watches = ObjectWatches(clients, settings.namespaces)

    async def write_status(key: tuple[str, str], status: Mapping[str, Any]) -> None:
        if runtime.may_act():  # queued while leading, dropped after a fence: the leader writes
            namespace, name = key
            await autoscalers.merge_patch_status(
                name, status, namespace=namespace, field_manager=FIELD_MANAGER, hot_path=True
            )

    controller = Controller(
        services=Services(
            scale=ScaleClient(
                clients,
                discovery,
                hooks=scale_write_hooks(os.environ),
                # A patch goes out only while this replica leads: an evaluation that began
                # while leading may end after a fence.
                may_write=runtime.may_act,
            ),
            sources=MetricSources.build(
                clients,
                discovery,
                settings.resource_metrics_max_age,
                prometheus_concurrency=settings.prometheus_concurrency,
                prometheus_limits=settings.prometheus_limits,
            ),
            hpa=settings.hpa,
        ),
        status=CoalescingWriter(write_status, MAX_CONCURRENT_STATUS_WRITES),
        bucket=TokenBucket(settings.retry_rate_per_second, settings.retry_burst),
        backoff_base=settings.failure_backoff_base,
        backoff_cap=settings.failure_backoff_max,
        recorder=autoscaler_metrics.RECORDER,
        owners=watches.owners,
        min_deadline=max(MIN_EVALUATION_DEADLINE, settings.api_timeout),
    )
    watches.start()
    runtime.autoscaler = AutoscalerParts(controller, watches, EventPoster(clients))


async def stop(runtime: Runtime) -> None:
    """Stop the pod, Deployment and HPA watches, and close the Prometheus connections (this also
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
    controller = parts.controller
    # Claimed before the wait: the daemons of a starting operator all wait for the caches, so
    # each one's first decision already knows the others' targets.
    with contextlib.suppress(SpecError):  # run_once reports it
        claim_target(controller.owners, namespace, name, parse_spec(body.get("spec", {})))
    try:
        await _evaluate_until_stopped(body, name, namespace, meta, status, stopped, runtime, logger)
    finally:
        controller.owners.release(namespace, name)  # also when cancelled
        controller.wakeups.release(namespace, name)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def spec_changed(
    body: kopf.Body, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    """Every watch event of an Autoscaler: a new ``metadata.generation`` (a spec change)
    ends its daemon's wait, so the change is evaluated at once (controller/wakeup.py). Async:
    kopf runs a sync handler in a thread, and the wake-up is an event of this loop."""
    parts = memo.runtime.autoscaler
    if parts is None or namespace is None:
        return  # the controller has not started: its daemons will evaluate at once anyway
    generation = body.get("metadata", {}).get("generation")
    parts.controller.wakeups.spec_changed(namespace, name, generation)


async def _evaluate_until_stopped(
    body: kopf.Body,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    status: kopf.Status,
    stopped: kopf.DaemonStopped,
    runtime: Runtime,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    parts = runtime.autoscaler_parts()
    controller, watches = parts.controller, parts.watches
    wakeup = controller.wakeups.register(namespace, name)
    await watches.synced()  # no decision on half-filled caches (pods, Deployments, HPAs)
    loop = AutoscalerLoop.resume(namespace, name, dict(status), time.time())
    watched = watches.objects

    about = ObjectRef(API_VERSION, "Autoscaler", name, namespace, meta.get("uid"))
    posting: set[asyncio.Task[bool]] = set()

    def post(event: Event) -> None:
        if not runtime.may_act():
            return  # fenced during this evaluation: the leader reports for itself
        # Not awaited: an Event must never hold up an evaluation (the poster bounds and logs it).
        spec = EventSpec(about, event.type, event.reason, event.message, COMPONENT)
        task = asyncio.create_task(parts.events.post(spec, datetime.now(UTC)))
        posting.add(task)
        task.add_done_callback(posting.discard)

    while not stopped:
        if not runtime.may_act():
            # Not the leader: no evaluation at all (no metric reads, no Events, no writes).
            await stopped.wait(STANDBY_POLL_SECONDS)
            continue

        async def evaluate_once(
            current: AutoscalerLoop = loop,
        ) -> tuple[AutoscalerSpec | None, EvaluationResult | None]:
            # The spec and generation as they are now: kopf keeps the body current.
            spec, generation = body.get("spec", {}), meta.get("generation")
            wakeup.evaluating(generation)
            annotations = meta.get("annotations") or {}
            return await run_once(
                current, controller, spec, generation, watched, post, logger, annotations
            )

        await run_until_stopped(
            loop,
            controller,
            evaluate_once,
            stopped,
            logger,
            keep_going=runtime.may_act,
            wakeup=wakeup,
        )
        # Lost the Lease (or stopped): should it lead again, continue from what the leader
        # meanwhile stored, not from this daemon's own state of before.
        loop = AutoscalerLoop.resume(namespace, name, dict(status), time.time())
    controller.status.discard((namespace, name))
    controller.recorder.forget(namespace, name)
