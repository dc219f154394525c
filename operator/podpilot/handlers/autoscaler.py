"""kopf handlers of the Autoscaler controller: a pod cache and one daemon per Autoscaler."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from podpilot.autoscaler.backoff import TokenBucket
from podpilot.autoscaler.evaluator import Services
from podpilot.autoscaler.loop import AutoscalerLoop, Controller, next_delay, run_once
from podpilot.autoscaler.pods import CachedPod, PodKey, cached_pod, pod_keys
from podpilot.autoscaler.result import Event
from podpilot.autoscaler.watched_scales import WATCHED_KINDS, deployment_scale
from podpilot.kube.clients import MAX_CONCURRENT_STATUS_WRITES
from podpilot.kube.coalescing import CoalescingWriter
from podpilot.kube.custom_objects import StatusWriter
from podpilot.kube.discovery import Discovery
from podpilot.kube.scale import Scale, ScaleClient
from podpilot.metrics.registry import MetricSources
from podpilot.observability import autoscaler_metrics
from podpilot.runtime import Runtime

GROUP, VERSION, PLURAL = "podpilot.io", "v1alpha1", "autoscalers"


@kopf.on.startup()
async def build_controller(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    clients, settings = runtime.api(), runtime.settings
    discovery = Discovery(clients)
    writer = StatusWriter(clients, PLURAL)

    async def write_status(key: tuple[str, str], status: Mapping[str, Any]) -> None:
        await writer.patch(*key, status)

    runtime.services["autoscaler"] = Controller(
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
    )


@kopf.on.cleanup()
async def close_controller(memo: kopf.Memo, **_: Any) -> None:
    """Close the Prometheus connections: this also removes their TLS files."""
    runtime: Runtime = memo.runtime
    controller: Controller | None = runtime.services.get("autoscaler")
    if controller is not None:
        controller.services.sources.prometheus.close()
        await controller.status.close()


# Index functions are coroutines: kopf runs a plain function in its thread pool, one
# executor round per object (6,000 at once at start-up) for a few microseconds of work.
@kopf.index("pods")
async def autoscaler_pods(
    namespace: str | None, body: kopf.Body, **_: Any
) -> dict[PodKey, CachedPod]:
    """Every pod in the form the engine needs, by namespace and by each of its labels (the
    watch keeps it current)."""
    pod = cached_pod(body)
    return dict.fromkeys(pod_keys(namespace or "", pod.labels), pod)


@kopf.index("apps", "v1", "deployments")
async def autoscaler_deployment_scales(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], Scale | None]:
    """Every Deployment's scale, by namespace and name (spares a GET /scale per evaluation)."""
    return {(namespace or "", name): deployment_scale(body)}


@dataclass(frozen=True)
class IndexedObjects:
    """The engine's view of kopf's indexes (see ``evaluator.Watched``)."""

    pods_index: kopf.Index[PodKey, CachedPod]
    scales_index: kopf.Index[tuple[str, str], Scale | None]

    def pods(self, key: PodKey) -> Collection[CachedPod]:
        return self.pods_index.get(key, ())

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        if (api_version, kind) not in WATCHED_KINDS:
            return None
        return next(iter(self.scales_index.get((namespace, name), [])), None)


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
    **kwargs: Any,
) -> None:
    """Evaluate this Autoscaler every evaluation period until it is deleted."""
    assert namespace is not None, "Autoscaler is a namespaced resource"
    runtime: Runtime = memo.runtime
    controller: Controller = runtime.services["autoscaler"]
    loop = AutoscalerLoop.resume(namespace, name, dict(status), time.time())

    watched = IndexedObjects(kwargs["autoscaler_pods"], kwargs["autoscaler_deployment_scales"])

    def post(event: Event) -> None:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])

    while not stopped:
        started = time.monotonic()
        failed = False
        spec = result = None
        try:
            spec, result = await run_once(
                loop,
                controller,
                body.get("spec", {}),
                meta.get("generation"),
                watched,
                post,
                logger,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            failed = True
            logger.exception("evaluation of %s/%s failed", namespace, name)
        elapsed = time.monotonic() - started
        await stopped.wait(next_delay(loop, controller, spec, result, failed, elapsed))
    controller.status.discard((namespace, name))
    autoscaler_metrics.forget(namespace, name)
