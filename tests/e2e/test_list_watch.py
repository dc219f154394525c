"""The list-and-watch behind the Autoscaler's caches, against the dev cluster's apiserver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import kubernetes
import pytest
from tests.e2e.conftest import Kubectl
from tests.e2e.workloads import apply, deployment

from podpilot.kube.clients import connect
from podpilot.kube.list_watch import ListWatch, ObjectKey
from podpilot_dev.cluster import ClusterState

pytestmark = pytest.mark.e2e


class RecordingSink:
    """Keeps what the watch delivers: the current value per object, and every call."""

    def __init__(self) -> None:
        self.values: dict[ObjectKey, dict[str, str]] = {}
        self.removed: list[ObjectKey] = []

    def put(self, key: ObjectKey, value: dict[str, str]) -> None:
        self.values[key] = value

    def remove(self, key: ObjectKey) -> None:
        self.values.pop(key, None)
        self.removed.append(key)


def labels_of(pod: Mapping[str, Any]) -> dict[str, str]:
    return dict(pod["metadata"].get("labels") or {})


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_watch_follows_pods_from_list_to_deletion(
    cluster: ClusterState, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("listed", 2))
    clients = connect(str(cluster.kubeconfig))
    core = kubernetes.client.CoreV1Api(clients.kubernetes)

    def listed_pods(sink: RecordingSink) -> list[ObjectKey]:
        return [key for key, labels in sink.values.items() if labels.get("app") == "listed"]

    async def scenario() -> None:
        sink = RecordingSink()
        watch = ListWatch("pods", partial(core.list_namespaced_pod, namespace), labels_of, sink)
        watch.start()
        try:
            await asyncio.wait_for(watch.synced(), 30)
            await eventually(lambda: len(listed_pods(sink)) == 2, "the two listed pods")
            assert all(key[0] == namespace for key in sink.values)

            # Changes after the list arrive through the watch.
            await asyncio.to_thread(apply, kubectl, namespace, deployment("watched", 1))
            await eventually(
                lambda: any(labels.get("app") == "watched" for labels in sink.values.values()),
                "the pod created after the list",
            )
            first = listed_pods(sink)[0]
            await asyncio.to_thread(
                kubectl, "label", "pod", first[1], "-n", namespace, "tier=front"
            )
            await eventually(
                lambda: sink.values.get(first, {}).get("tier") == "front", "the new label"
            )
            await asyncio.to_thread(
                kubectl, "delete", "deployment", "listed", "-n", namespace, "--wait=false"
            )
            await eventually(lambda: not listed_pods(sink), "the deleted pods to be removed")
            assert first in sink.removed
        finally:
            watch.stop()
            await asyncio.to_thread(watch.join, 10)
            clients.close()

    asyncio.run(scenario())
