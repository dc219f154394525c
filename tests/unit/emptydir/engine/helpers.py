"""Helpers shared by the audit tests: JSON fixtures and small pod builders."""

import json
import pathlib
from datetime import UTC, datetime
from typing import Any

from podpilot.emptydir.engine.model import NodeFacts

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
GI = 1024**3
MI = 1024**2
NOW = datetime(2025, 3, 1, 10, 0, 30, tzinfo=UTC)
WORKER_1 = NodeFacts(
    name="worker-1",
    allocatable_memory_bytes=15 * GI,
    allocatable_ephemeral_bytes=90 * GI,
    capacity_memory_bytes=16 * GI,
    kubelet_version="v1.31.4",
    operating_system="linux",
)


def load(name: str) -> Any:
    """Load a JSON fixture by file name."""
    return json.loads((FIXTURES / name).read_text())


def container(
    name: str,
    limits: dict[str, str] | None = None,
    mounts: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A container in API shape."""
    body: dict[str, Any] = {"name": name, "image": "busybox:1.36", "resources": {}}
    if limits is not None:
        body["resources"] = {"limits": limits}
    body["volumeMounts"] = [{"name": m, "mountPath": f"/mnt/{m}"} for m in mounts]
    body.update(extra)
    return body


def pod(
    volumes: list[dict[str, Any]],
    containers: list[dict[str, Any]],
    *,
    init_containers: list[dict[str, Any]] | None = None,
    pod_resources: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    node_name: str | None = "worker-1",
) -> dict[str, Any]:
    """A bare pod in API shape."""
    spec: dict[str, Any] = {"containers": containers, "volumes": volumes}
    if node_name:
        spec["nodeName"] = node_name
    if init_containers is not None:
        spec["initContainers"] = init_containers
    if pod_resources is not None:
        spec["resources"] = pod_resources
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "uid-p"}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": status or {"phase": "Running"},
    }


def empty_dir(
    name: str, medium: str | None = None, size_limit: str | None = None
) -> dict[str, Any]:
    """An emptyDir volume in API shape."""
    source: dict[str, Any] = {}
    if medium is not None:
        source["medium"] = medium
    if size_limit is not None:
        source["sizeLimit"] = size_limit
    return {"name": name, "emptyDir": source}
