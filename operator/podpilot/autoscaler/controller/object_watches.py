"""The list-and-watches that fill the Autoscaler's Deployment cache and the HPAs of the
ambiguity guard's owner index; its pod cache subscribes to the process's one pod watch."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import kubernetes

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.autoscaler.api.owners import OwnerIndex, hpa_target
from podpilot.autoscaler.api.pods import cached_pod
from podpilot.autoscaler.api.watched import WatchedAutoscaler, watched_autoscaler
from podpilot.kube.clients import ApiClients
from podpilot.kube.list_watch import ListWatch, Sink, scoped_calls
from podpilot.kube.pod_watch import PodWatch

from .watched_objects import PodCache, ScaleCache, WatchedObjects
from .watched_scales import deployment_scale

PLURAL = "autoscalers"


class ObjectWatches:
    """Pods (from ``pods``, the process's pod watch), Deployments and HPAs of the whole
    cluster, or of each watched namespace.

    HPAs go to ``owners`` (each kept as its target's kind and name); the Autoscaler loops
    add their own targets to it.
    """

    def __init__(self, clients: ApiClients, namespaces: Sequence[str], pods: PodWatch) -> None:
        apps = kubernetes.client.AppsV1Api(clients.kubernetes)
        hpas = kubernetes.client.AutoscalingV2Api(clients.kubernetes)
        pod_cache, scales = PodCache(), ScaleCache()
        self.objects = WatchedObjects(pod_cache, scales)
        self.owners = OwnerIndex()
        self._pods = pods
        pods.subscribe("the Autoscaler's pod cache", cached_pod, pod_cache)

        scoped = partial(scoped_calls, namespaces)
        self._watches: list[ListWatch[Any]] = [
            ListWatch(name, call, deployment_scale, scales)
            for name, call in scoped(
                "deployments",
                apps.list_deployment_for_all_namespaces,
                apps.list_namespaced_deployment,
            )
        ]
        self._watches += [
            ListWatch(name, call, hpa_target, self.owners)
            for name, call in scoped(
                "horizontalpodautoscalers",
                hpas.list_horizontal_pod_autoscaler_for_all_namespaces,
                hpas.list_namespaced_horizontal_pod_autoscaler,
            )
        ]

    def start(self) -> None:
        for watch in self._watches:
            watch.start()

    async def synced(self) -> None:
        """Return once every watch, the pod watch too, has delivered its first complete list."""
        await self._pods.synced()
        for watch in self._watches:
            await watch.synced()

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()


def autoscaler_watches(
    clients: ApiClients, namespaces: Sequence[str], sink: Sink[WatchedAutoscaler]
) -> list[ListWatch[WatchedAutoscaler]]:
    """The watches of the Autoscalers themselves, each delivering to ``sink``."""
    api = kubernetes.client.CustomObjectsApi(clients.kubernetes)

    def one(namespace: str, **params: Any) -> Any:
        # ``params`` carry the ListWatch's _request_timeout for every LIST page and WATCH.
        return api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **params)

    every = partial(api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
    return [
        ListWatch(name, call, watched_autoscaler, sink)
        for name, call in scoped_calls(namespaces, PLURAL, every, one)
    ]
