"""One list-and-watch of Pods for every controller of the process.

The Autoscaler's pod cache, the emptyDir audit and the flannel reporter each subscribe a
conversion and a sink before the watch starts; every pod is then read once from the apiserver
and handed to each of them converted its own way (``list_watch.Fanout``). kopf does not watch
Pods at all: its per-object bookkeeping of every pod in the cluster was the largest part of the
flannel reporter's memory at 50,000 pods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import kubernetes

from podpilot.kube.clients import ApiClients
from podpilot.kube.list_watch import Consumer, Fanout, ListWatch, Sink, scoped_calls

V = TypeVar("V")


class PodWatch:
    """Pods of the whole cluster, or of each watched namespace, for every subscriber."""

    def __init__(self, clients: ApiClients, namespaces: Sequence[str]) -> None:
        core = kubernetes.client.CoreV1Api(clients.kubernetes)
        self._fanout = Fanout()
        self._watches: list[ListWatch[tuple[Any, ...]]] = [
            ListWatch(name, call, self._fanout.convert, self._fanout)
            for name, call in scoped_calls(
                namespaces, "pods", core.list_pod_for_all_namespaces, core.list_namespaced_pod
            )
        ]
        self._started = False

    def subscribe(
        self, name: str, convert: Callable[[Mapping[str, Any]], V | None], sink: Sink[V]
    ) -> None:
        """Add a consumer; only before ``start``, so that each one sees the first list whole."""
        if self._started:
            raise RuntimeError(f"{name} subscribed to the pod watch after it started")
        self._fanout.consumers.append(Consumer(name, convert, sink))

    @property
    def subscribers(self) -> list[str]:
        return [consumer.name for consumer in self._fanout.consumers]

    def start(self) -> None:
        """Start watching, if anyone subscribed."""
        self._started = True
        if self._fanout.consumers:
            for watch in self._watches:
                watch.start()

    async def synced(self) -> None:
        """Return once the first complete list of every namespace has reached the sinks."""
        for watch in self._watches:
            await watch.synced()

    def stop(self) -> None:
        for watch in self._watches:
            watch.stop()
