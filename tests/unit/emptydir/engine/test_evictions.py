"""Each kubelet eviction message, and OOM kills traced to tmpfs volumes."""

from typing import Any

import pytest

from podpilot.emptydir.engine.evictions import (
    EvictionKind,
    eviction_findings,
    oom_findings,
    parse_eviction_message,
)
from podpilot.emptydir.engine.model import FsSample, Severity, Thresholds
from podpilot.emptydir.engine.volumes import emptydir_volumes

from .helpers import GI, MI, WORKER_1, container, empty_dir, load, pod


@pytest.mark.parametrize(
    ("message", "kind", "limit", "volume", "container_name", "resource"),
    [
        pytest.param(
            'Usage of EmptyDir volume "data" exceeds the limit "1Gi". ',
            EvictionKind.EMPTYDIR_LIMIT,
            "1Gi",
            "data",
            None,
            None,
            id="emptyDirMessageFmt",
        ),
        pytest.param(
            "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ",
            EvictionKind.POD_EPHEMERAL_LIMIT,
            "1Gi",
            None,
            None,
            None,
            id="podEphemeralStorageMessageFmt",
        ),
        pytest.param(
            'Container app exceeded its local ephemeral storage limit "500Mi". ',
            EvictionKind.CONTAINER_EPHEMERAL_LIMIT,
            "500Mi",
            None,
            "app",
            None,
            id="containerEphemeralStorageMessageFmt",
        ),
        pytest.param(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, "
            "available: 9Gi. Container app was using 30Gi, request is 0, has larger "
            "consumption of ephemeral-storage. ",
            EvictionKind.NODE_PRESSURE,
            None,
            None,
            None,
            "ephemeral-storage",
            id="nodeLowMessageFmt",
        ),
    ],
)
def test_kubelet_eviction_messages_are_recognised(
    message: str,
    kind: EvictionKind,
    limit: str | None,
    volume: str | None,
    container_name: str | None,
    resource: str | None,
) -> None:
    cause = parse_eviction_message(message)

    assert cause is not None
    assert (cause.kind, cause.limit, cause.volume, cause.container, cause.resource) == (
        kind,
        limit,
        volume,
        container_name,
        resource,
    )


def test_other_messages_are_not_evictions() -> None:
    assert parse_eviction_message("Pod was rejected: Node didn't have enough resource") is None


def test_evicted_pod_is_traced_to_its_volume() -> None:
    evicted = load("pod_evicted_emptydir.json")

    (finding,) = eviction_findings(evicted, emptydir_volumes(evicted, WORKER_1))

    assert (finding.id, finding.severity, finding.volume) == ("ED020", Severity.CRITICAL, "data")
    assert dict(finding.evidence)["limit"] == "1Gi"


def test_pod_ephemeral_eviction_names_the_largest_disk_emptydir() -> None:
    body = pod(
        [empty_dir("a"), empty_dir("b"), empty_dir("m", "Memory")],
        [container("c", {"ephemeral-storage": "1Gi"}, mounts=("a", "b"))],
        status={
            "phase": "Failed",
            "reason": "Evicted",
            "message": "Pod ephemeral local storage usage exceeds the total limit of containers "
            "1Gi. ",
        },
    )
    usage = {"a": FsSample(used_bytes=10 * MI), "b": FsSample(used_bytes=900 * MI)}

    (finding,) = eviction_findings(body, emptydir_volumes(body, WORKER_1), usage)

    assert (finding.id, finding.volume) == ("ED021", "b")
    assert dict(finding.evidence)["diskEmptyDirs"] == "a,b"


def test_container_ephemeral_eviction_is_not_blamed_on_a_volume() -> None:
    body = pod(
        [empty_dir("a")],
        [container("app", {"ephemeral-storage": "500Mi"}, mounts=("a",))],
        status={
            "phase": "Failed",
            "reason": "Evicted",
            "message": 'Container app exceeded its local ephemeral storage limit "500Mi". ',
        },
    )

    (finding,) = eviction_findings(body, emptydir_volumes(body, WORKER_1))

    assert (finding.id, finding.volume, finding.container) == ("ED022", None, "app")


def test_node_pressure_eviction_points_at_an_unbounded_disk_emptydir() -> None:
    body = pod(
        [empty_dir("bounded", size_limit="1Gi"), empty_dir("wild")],
        [container("app", mounts=("bounded", "wild"))],
        status={
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: ephemeral-storage. Threshold quantity: "
            "10Gi, available: 9Gi. ",
        },
    )

    (finding,) = eviction_findings(body, emptydir_volumes(body, WORKER_1))

    assert (finding.id, finding.volume, finding.severity) == ("ED024", "wild", Severity.WARNING)


def test_running_pods_have_no_eviction_findings() -> None:
    web = load("pod_web.json")

    assert eviction_findings(web, emptydir_volumes(web, WORKER_1)) == ()


def oom_pod(read_only: bool = False) -> dict[str, Any]:
    writer = container("app", {"memory": "1Gi"}, mounts=("shm",))
    writer["volumeMounts"][0]["readOnly"] = read_only
    return pod(
        [empty_dir("shm", "Memory", "2Gi")],
        [writer],
        status={
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": 3,
                    "state": {"running": {"startedAt": "2025-03-01T10:05:00Z"}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "OOMKilled",
                            "startedAt": "2025-03-01T10:01:00Z",
                            "finishedAt": "2025-03-01T10:04:59Z",
                        }
                    },
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        pytest.param(800 * MI, Severity.WARNING, id="tmpfs holds most of the limit"),
        pytest.param(None, Severity.INFO, id="usage unknown - a possibility"),
    ],
)
def test_oom_kill_is_traced_to_a_full_tmpfs(used: int | None, expected: Severity) -> None:
    body = oom_pod()
    usage = {"shm": FsSample(used_bytes=used)} if used is not None else {}

    (finding,) = oom_findings(body, emptydir_volumes(body, WORKER_1), usage, Thresholds())

    assert (finding.id, finding.container, finding.volume, finding.severity) == (
        "ED023",
        "app",
        "shm",
        expected,
    )
    assert dict(finding.evidence)["memoryLimitBytes"] == str(GI)


def test_oom_kill_with_a_small_tmpfs_or_read_only_mount_is_not_traced() -> None:
    body = oom_pod()
    small = {"shm": FsSample(used_bytes=10 * MI)}
    reader = oom_pod(read_only=True)

    assert oom_findings(body, emptydir_volumes(body, WORKER_1), small, Thresholds()) == ()
    assert oom_findings(reader, emptydir_volumes(reader, WORKER_1), {}, Thresholds()) == ()
