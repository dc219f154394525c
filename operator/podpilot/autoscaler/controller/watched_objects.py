"""The watch-fed caches an evaluation reads instead of asking the apiserver.

Pods are filed under their namespace and under each of their labels (see ``pods.pod_keys``);
Deployments are kept as the Scale their ``/scale`` subresource would answer. Both are filled
by ``kube.list_watch.ListWatch`` on the event loop.
"""

from __future__ import annotations

from collections.abc import Collection

from podpilot.autoscaler.api.pods import CachedPod, PodKey, pod_keys
from podpilot.kube.scale import Scale

from .watched_scales import WATCHED_KINDS

ObjectKey = tuple[str, str]


class PodCache:
    """Every watched pod, by namespace and by each label, for ``pods.select_pods``."""

    def __init__(self) -> None:
        self._pods: dict[ObjectKey, CachedPod] = {}
        self._buckets: dict[PodKey, dict[str, CachedPod]] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def put(self, key: ObjectKey, pod: CachedPod) -> None:
        self.remove(key)
        namespace, name = key
        self._pods[key] = pod
        for bucket_key in pod_keys(namespace, pod.labels):
            self._buckets.setdefault(bucket_key, {})[name] = pod

    def remove(self, key: ObjectKey) -> None:
        pod = self._pods.pop(key, None)
        if pod is None:
            return
        namespace, name = key
        for bucket_key in pod_keys(namespace, pod.labels):
            bucket = self._buckets.get(bucket_key)
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del self._buckets[bucket_key]

    def bucket(self, key: PodKey) -> Collection[CachedPod]:
        bucket = self._buckets.get(key)
        return bucket.values() if bucket is not None else ()


class ScaleCache:
    """Every watched Deployment's Scale (None when its selector cannot be rendered)."""

    def __init__(self) -> None:
        self._scales: dict[ObjectKey, Scale | None] = {}

    def __len__(self) -> int:
        return len(self._scales)

    def put(self, key: ObjectKey, scale: Scale | None) -> None:
        self._scales[key] = scale

    def remove(self, key: ObjectKey) -> None:
        self._scales.pop(key, None)

    def get(self, key: ObjectKey) -> Scale | None:
        return self._scales.get(key)


class WatchedObjects:
    """The engine's view of both caches (``evaluator.Watched``)."""

    def __init__(self, pods: PodCache, scales: ScaleCache) -> None:
        self._pods = pods
        self._scales = scales

    def pods(self, key: PodKey) -> Collection[CachedPod]:
        return self._pods.bucket(key)

    def scale(self, namespace: str, api_version: str, kind: str, name: str) -> Scale | None:
        if (api_version, kind) not in WATCHED_KINDS:
            return None
        return self._scales.get((namespace, name))
