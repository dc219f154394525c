"""The Autoscaler controller's wiring: the watches (Autoscalers, and the Deployments and HPAs
an evaluation reads, with the pods from the process's pod watch), one loop per Autoscaler
(``autoscaler/controller/autoscalers.py``), and the clients they use. kopf has no handler of
the Autoscaler's: it only runs the process."""

from __future__ import annotations

import asyncio
import logging

import kopf
import kubernetes

from podpilot.apimachinery.backoff import TokenBucket
from podpilot.app.runtime import AutoscalerParts, Runtime
from podpilot.autoscaler.api.watched import WatchedAutoscaler, watched_autoscaler
from podpilot.autoscaler.controller.autoscalers import AutoscalerLoops, ObjectKey
from podpilot.autoscaler.controller.evaluator import Services
from podpilot.autoscaler.controller.exposure import forget_series_not_acted_for
from podpilot.autoscaler.controller.loop import MIN_EVALUATION_DEADLINE, Controller
from podpilot.autoscaler.controller.object_watches import (
    PLURAL,
    ObjectWatches,
    autoscaler_watches,
)
from podpilot.autoscaler.controller.runner import Runner
from podpilot.autoscaler.sources.registry import MetricSources
from podpilot.kube.clients import MAX_CONCURRENT_STATUS_WRITES
from podpilot.kube.custom_objects import PodpilotObjects
from podpilot.kube.discovery import Discovery
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError
from podpilot.kube.scale import ScaleClient
from podpilot.kube.status_writes import ConditionalStatusWriter
from podpilot.observability import autoscaler_metrics

FIELD_MANAGER = "podpilot"


logger = logging.getLogger("podpilot.autoscaler")


def configure(settings: kopf.OperatorSettings) -> None:
    """Nothing of kopf's settings is the Autoscaler's own."""


async def start(runtime: Runtime) -> None:
    clients, settings = runtime.api(), runtime.settings
    if not settings.standalone and not settings.leader_election.enabled:
        logger.warning(
            "leader election is off: the Autoscaler acts as the only replica (kopf's peering "
            "pauses kopf's handlers, not the Autoscaler's loops); run one replica, or use the "
            "Lease (--leader-election)"
        )
    discovery = Discovery(clients)
    autoscalers = PodpilotObjects(clients, PLURAL, namespaced=True)
    watches = ObjectWatches(clients, settings.namespaces, runtime.pod_watch())

    gate = runtime.hooks.status_write_gate

    async def write_status(
        key: tuple[str, str], encoded_status: bytes, resource_version: str, may_write: MayWrite
    ) -> str | None:
        namespace, name = key
        # Queued while the loop acted, refused once it no longer does (a fence, or a new term
        # of the Lease: WriteNotAllowedError); the loop then counts the status as not written,
        # and writes it whole once it acts again. Asked here (no trip to the pool for a write
        # already refused) and in the pool's thread.
        if not may_write():
            raise WriteNotAllowedError
        return await autoscalers.merge_patch_encoded_status(
            name,
            encoded_status,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            resource_version=resource_version,
            may_write=gate(may_write, f"{namespace}/{name}"),
        )

    async def read_version(key: tuple[str, str]) -> str:
        namespace, name = key
        found = await autoscalers.get(name, namespace=namespace)
        return str((found.get("metadata") or {}).get("resourceVersion") or "")

    def watched_version(key: tuple[str, str]) -> str | None:
        found = loops.current(key)
        return found.resource_version if found is not None else None

    status_writer = ConditionalStatusWriter(
        write_status, read_version, watched_version, MAX_CONCURRENT_STATUS_WRITES
    )
    autoscaler_metrics.report_status_writes(
        lambda: status_writer.queued, lambda: status_writer.in_flight
    )
    controller = Controller(
        services=Services(
            # A patch goes out only while this replica may act for the Autoscaler in the term
            # its loop began in (each evaluation passes the loop's may_act): one that began
            # while leading may end after a fence.
            scale=ScaleClient(clients, discovery, hooks=runtime.hooks.scale_writes),
            sources=MetricSources.build(
                clients,
                discovery,
                settings.resource_metrics_max_age,
                prometheus_concurrency=settings.prometheus_concurrency,
                prometheus_limits=settings.prometheus_limits,
            ),
            hpa=settings.hpa,
        ),
        status=status_writer,
        bucket=TokenBucket(settings.retry_rate_per_second, settings.retry_burst),
        backoff_base=settings.failure_backoff_base,
        backoff_cap=settings.failure_backoff_max,
        recorder=autoscaler_metrics.RECORDER,
        owners=watches.owners,
        min_deadline=max(MIN_EVALUATION_DEADLINE, settings.api_timeout),
        status_heartbeat=settings.status_heartbeat,
    )

    async def read_autoscaler(key: ObjectKey) -> WatchedAutoscaler | None:
        namespace, name = key
        try:
            return watched_autoscaler(await autoscalers.get(name, namespace=namespace))
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    runner = Runner(
        controller,
        watches,
        EventPoster(clients),
        runtime.term_for,
        read_autoscaler=read_autoscaler,
        resumed_at=status_writer.resumed,
        unchanged_at=status_writer.unchanged_at,
    )

    async def drop_kopf_finalizer(key: ObjectKey, autoscaler: WatchedAutoscaler) -> None:
        namespace, name = key
        try:
            patch = autoscaler.kopf_finalizer_removal()
            await autoscalers.merge_patch(name, patch, namespace=namespace)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise

    loops = AutoscalerLoops(
        runner.run,
        controller.wakeups,
        drop_kopf_finalizer,
        runtime.may_act_for,
        claim_target=runner.claim_target,
    )
    runner.loops = loops
    own = autoscaler_watches(clients, settings.namespaces, loops)
    watches.start()
    for watch in own:
        watch.start()
    series_sweep = asyncio.create_task(
        forget_series_not_acted_for(
            runtime.acted_for,
            runtime.shard_of,
            autoscaler_metrics.RECORDER.exposed,
            autoscaler_metrics.RECORDER.forget,
        ),
        name="forget series not acted for",
    )
    runtime.autoscaler = AutoscalerParts(controller, watches, loops, runner, own, series_sweep)


async def stop(runtime: Runtime) -> None:
    """Stop every loop (each may end its evaluation) and the Events they still post, then the
    watches, and close the Prometheus connections (this also removes their TLS files)."""
    parts = runtime.autoscaler
    if parts is None:
        return
    for watch in parts.autoscaler_watches:
        watch.stop()
    parts.series_sweep.cancel()
    await asyncio.gather(parts.series_sweep, return_exceptions=True)
    await parts.loops.close()
    await parts.runner.close()  # after the loops: their last evaluations post Events too
    parts.watches.stop()
    parts.controller.services.sources.prometheus.close()
    await parts.controller.status.close()
