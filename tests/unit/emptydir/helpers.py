"""Small builders for the controller's unit tests."""

from datetime import UTC, datetime
from typing import Any

NOW = datetime(2025, 3, 1, 10, 0, 30, tzinfo=UTC)
MI = 1024**2
GI = 1024**3


def pod(
    name: str = "p",
    *,
    namespace: str = "ns",
    uid: str | None = None,
    volumes: list[dict[str, Any]] | None = None,
    limits: dict[str, str] | None = None,
    node: str | None = "node-a",
    owner: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod in API shape with one container mounting every volume."""
    volumes = volumes if volumes is not None else [{"name": "scratch", "emptyDir": {}}]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}"}
    if labels:
        metadata["labels"] = labels
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[1]}",
                "controller": True,
            }
        ]
    container: dict[str, Any] = {
        "name": "app",
        "image": "busybox",
        "resources": {"limits": limits} if limits else {},
        "volumeMounts": [{"name": v["name"], "mountPath": f"/{v['name']}"} for v in volumes],
    }
    spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": status or {"phase": "Running"},
    }


def summary_document(
    uid: str, volume: str, used: int, capacity: int | None = None
) -> dict[str, Any]:
    """A kubelet Summary with one pod and one volume."""
    sample: dict[str, Any] = {"name": volume, "time": "2025-03-01T10:00:20Z", "usedBytes": used}
    if capacity is not None:
        sample["capacityBytes"] = capacity
    return {
        "node": {"nodeName": "node-a"},
        "pods": [{"podRef": {"name": "p", "namespace": "ns", "uid": uid}, "volume": [sample]}],
    }
