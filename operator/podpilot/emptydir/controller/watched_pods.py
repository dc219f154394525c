"""The pods the audit reads: those with an emptyDir volume, kept slim, fed by the process's
pod watch (``kube.pod_watch``) on the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podpilot.emptydir.engine.objects import has_emptydir, slim_pod

ObjectKey = tuple[str, str]


def audited_pod(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The slim copy the audit keeps of a pod, or None for a pod without an emptyDir."""
    return slim_pod(body) if has_emptydir(body.get("spec")) else None


class AuditedPods:
    """Every pod with an emptyDir, by namespace and name, and by UID (an eviction names the
    pod by UID; the copy outlives the pod in the eviction log)."""

    def __init__(self) -> None:
        self._pods: dict[ObjectKey, dict[str, Any]] = {}
        self._by_uid: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def put(self, key: ObjectKey, pod: dict[str, Any]) -> None:
        self.remove(key)
        self._pods[key] = pod
        uid = pod["metadata"].get("uid")
        if uid:
            self._by_uid[uid] = pod

    def remove(self, key: ObjectKey) -> None:
        pod = self._pods.pop(key, None)
        if pod is not None:
            self._by_uid.pop(pod["metadata"].get("uid") or "", None)

    def all(self) -> list[dict[str, Any]]:
        return list(self._pods.values())

    def by_uid(self, uid: str) -> dict[str, Any] | None:
        return self._by_uid.get(uid)
