"""Resolve ReplicaSet → Deployment and Job → CronJob, lazily, with a cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

import kubernetes

from podpilot.emptydir.engine.model import WorkloadRef
from podpilot.emptydir.engine.scan import OwnerKey
from podpilot.kube.clients import TRANSPORT_ERRORS, ApiClients, no_answer

logger = logging.getLogger(__name__)

RESOLVED_KINDS = frozenset({"ReplicaSet", "Job"})


def owner_keys(pods: Collection[Mapping[str, Any]]) -> set[OwnerKey]:
    """The ReplicaSets and Jobs that control the pods, as ``(namespace, kind, name)``."""
    keys: set[OwnerKey] = set()
    for pod in pods:
        metadata = pod.get("metadata") or {}
        for owner in metadata.get("ownerReferences") or []:
            if owner.get("controller") and owner.get("kind") in RESOLVED_KINDS:
                keys.add((str(metadata.get("namespace")), str(owner["kind"]), str(owner["name"])))
    return keys


def _controller_of(body: Mapping[str, Any], namespace: str) -> WorkloadRef | None:
    for owner in (body.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return WorkloadRef(
                kind=str(owner.get("kind")),
                name=str(owner.get("name")),
                namespace=namespace,
                uid=owner.get("uid"),
                api_version=owner.get("apiVersion"),
            )
    return None


class OwnerResolver:
    """Caches the controller owner (or its absence) of each ReplicaSet and Job asked about."""

    def __init__(self, max_concurrent: int = 8) -> None:
        self._cache: dict[OwnerKey, WorkloadRef | None] = {}
        self._max_concurrent = max_concurrent

    async def resolve(self, api: ApiClients, keys: set[OwnerKey]) -> dict[OwnerKey, WorkloadRef]:
        """Parents of ``keys`` (those that have one); entries not asked for are forgotten."""
        for stale in set(self._cache) - keys:
            del self._cache[stale]
        missing = [k for k in keys if k not in self._cache]
        if missing:
            apps = kubernetes.client.AppsV1Api(api.kubernetes)
            batch = kubernetes.client.BatchV1Api(api.kubernetes)
            gate = asyncio.Semaphore(self._max_concurrent)

            async def lookup(key: OwnerKey) -> None:
                namespace, kind, name = key
                read = (
                    apps.read_namespaced_replica_set
                    if kind == "ReplicaSet"
                    else batch.read_namespaced_job
                )
                async with gate:
                    try:
                        body = await api.call(read, name, namespace)
                    except kubernetes.client.exceptions.ApiException as error:
                        if error.status != 404:
                            logger.warning(
                                "cannot read %s %s/%s: %s", kind, namespace, name, error.status
                            )
                            return  # not cached: retried next cycle
                        self._cache[key] = None
                        return
                    except TRANSPORT_ERRORS as error:
                        reason = no_answer(error, api.server, api.timeouts)
                        logger.warning("cannot read %s %s/%s: %s", kind, namespace, name, reason)
                        return  # not cached: retried next cycle
                raw = api.kubernetes.sanitize_for_serialization(body)  # type: ignore[no-untyped-call]
                self._cache[key] = _controller_of(raw, namespace)

            await asyncio.gather(*(lookup(k) for k in missing))
        return {k: v for k, v in self._cache.items() if v is not None}
