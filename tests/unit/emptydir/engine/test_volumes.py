"""Effective limits and limit sources, mirroring the kubelet's eviction and tmpfs sizing."""

from typing import Any

import pytest

from podpilot.emptydir.engine.findings import spec_findings
from podpilot.emptydir.engine.model import (
    LimitSource,
    Medium,
    NodeFacts,
    Severity,
    VolumeSpec,
    WorkloadRef,
)
from podpilot.emptydir.engine.volumes import (
    emptydir_volumes,
    kubelet_sizes_tmpfs,
    pod_limits,
    workload_of,
)

from .helpers import GI, MI, WORKER_1, container, empty_dir, load, pod


def only_volume(body: dict[str, Any], node: NodeFacts | None = WORKER_1) -> VolumeSpec:
    (volume,) = emptydir_volumes(body, node)
    return volume


def test_realistic_pod_lists_only_emptydirs_with_mounters() -> None:
    cache, shm = emptydir_volumes(load("pod_web.json"), WORKER_1)

    assert (cache.name, cache.medium, shm.name, shm.medium) == (
        "cache",
        Medium.DISK,
        "shm",
        Medium.MEMORY,
    )
    assert cache.pod.uid == "5b0e1c7a-2f43-4d0e-9a55-0c6f1d1e8a01"
    assert [(m.container, m.read_only) for m in cache.mounters] == [
        ("app", False),
        ("log-shipper", True),
    ]
    assert (cache.effective_limit_bytes, cache.limit_source) == (
        2 * GI,
        LimitSource.POD_EPHEMERAL_LIMIT,
    )
    # Both app containers declare memory: the pod limit is 640Mi, the sizeLimit 256Mi wins.
    assert shm.pod_memory_limit_bytes == 640 * MI
    assert (shm.effective_limit_bytes, shm.limit_source) == (256 * MI, LimitSource.SIZE_LIMIT)


@pytest.mark.parametrize(
    ("volume", "containers", "expected_limit", "expected_source"),
    [
        pytest.param(
            empty_dir("v"),
            [container("a")],
            90 * GI,
            LimitSource.NODE_ALLOCATABLE,
            id="disk without any limit - node allocatable binds",
        ),
        pytest.param(
            empty_dir("v", size_limit="1Gi"),
            [container("a")],
            GI,
            LimitSource.SIZE_LIMIT,
            id="disk with sizeLimit only",
        ),
        pytest.param(
            empty_dir("v", size_limit="4Gi"),
            [container("a", {"ephemeral-storage": "1Gi"})],
            GI,
            LimitSource.POD_EPHEMERAL_LIMIT,
            id="disk sizeLimit above pod ephemeral limit - pod limit binds",
        ),
        pytest.param(
            empty_dir("v", size_limit="1Gi"),
            [container("a", {"ephemeral-storage": "1Gi"})],
            GI,
            LimitSource.POD_EPHEMERAL_LIMIT,
            id="disk tie - pod limit binds because pod usage includes the volume",
        ),
        pytest.param(
            empty_dir("v"),
            [container("a", {"ephemeral-storage": "1Gi"}), container("b")],
            GI,
            LimitSource.POD_EPHEMERAL_LIMIT,
            id="disk - a container without a limit does not cancel the pod ephemeral limit",
        ),
        pytest.param(
            empty_dir("v", size_limit="0"),
            [container("a")],
            90 * GI,
            LimitSource.NODE_ALLOCATABLE,
            id="disk sizeLimit 0 means none",
        ),
        pytest.param(
            empty_dir("m", medium="Memory"),
            [container("a")],
            15 * GI,
            LimitSource.NODE_ALLOCATABLE,
            id="memory without limits - tmpfs sized to node allocatable",
        ),
        pytest.param(
            empty_dir("m", medium="Memory"),
            [container("a", {"memory": "1Gi"})],
            GI,
            LimitSource.POD_MEMORY_LIMIT,
            id="memory with pod memory limit only",
        ),
        pytest.param(
            empty_dir("m", medium="Memory", size_limit="2Gi"),
            [container("a", {"memory": "1Gi"})],
            GI,
            LimitSource.POD_MEMORY_LIMIT,
            id="memory sizeLimit larger than pod limit",
        ),
        pytest.param(
            empty_dir("m", medium="Memory", size_limit="1Gi"),
            [container("a", {"memory": "1Gi"})],
            GI,
            LimitSource.SIZE_LIMIT,
            id="memory tie - sizeLimit replaces an equal pod limit like the kubelet",
        ),
        pytest.param(
            empty_dir("m", medium="Memory", size_limit="64Mi"),
            [container("a", {"memory": "1Gi"}), container("b")],
            64 * MI,
            LimitSource.SIZE_LIMIT,
            id="memory sizeLimit smaller, one container without memory limit",
        ),
        pytest.param(
            empty_dir("m", medium="Memory"),
            [container("a", {"memory": "1Gi"}), container("b")],
            15 * GI,
            LimitSource.NODE_ALLOCATABLE,
            id="memory - one container without memory limit unsets the pod limit",
        ),
        pytest.param(
            empty_dir("m", medium="Memory", size_limit="64Gi"),
            [container("a")],
            15 * GI,
            LimitSource.NODE_ALLOCATABLE,
            id="memory sizeLimit above node allocatable",
        ),
    ],
)
def test_effective_limit(
    volume: dict[str, Any],
    containers: list[dict[str, Any]],
    expected_limit: int,
    expected_source: LimitSource,
) -> None:
    spec = only_volume(pod([volume], containers))

    assert (spec.effective_limit_bytes, spec.limit_source) == (expected_limit, expected_source)


def test_pod_level_memory_limit_replaces_container_sum() -> None:
    body = pod(
        [empty_dir("m", medium="Memory")],
        [container("a"), container("b")],
        pod_resources={"limits": {"memory": "3Gi"}},
    )

    spec = only_volume(body)

    assert (spec.effective_limit_bytes, spec.limit_source) == (3 * GI, LimitSource.POD_MEMORY_LIMIT)


def test_pod_level_resources_do_not_carry_ephemeral_storage() -> None:
    # spec.resources supports cpu, memory and hugepages only.
    body = pod(
        [empty_dir("v")],
        [container("a")],
        pod_resources={"limits": {"ephemeral-storage": "1Gi"}},
    )

    assert only_volume(body).pod_ephemeral_limit_bytes is None


def test_init_containers_count_by_peak_and_sidecars_add_up() -> None:
    body = pod(
        [empty_dir("v")],
        [container("app", {"ephemeral-storage": "1Gi", "memory": "1Gi"})],
        init_containers=[
            container(
                "sidecar", {"ephemeral-storage": "1Gi", "memory": "256Mi"}, restartPolicy="Always"
            ),
            container("migrate", {"ephemeral-storage": "5Gi", "memory": "512Mi"}),
        ],
    )

    limits = pod_limits(body["spec"])

    # Steady state: app + sidecar = 2Gi; during init: sidecar + migrate = 6Gi; the peak wins.
    assert limits.ephemeral_storage_bytes == 6 * GI
    assert limits.memory_bytes == 1280 * MI


NODE_64GI = NodeFacts(
    name="big",
    allocatable_memory_bytes=64 * GI,
    capacity_memory_bytes=64 * GI,
    kubelet_version="v1.31.4",
    operating_system="linux",
)


def test_init_container_without_memory_limit_leaves_tmpfs_at_node_allocatable() -> None:
    # ResourceConfigForPod's ContainerFn also sees init containers: one without a memory limit
    # clears memoryLimitsDeclared, the pod cgroup is unlimited and the tmpfs node-sized.
    body = pod(
        [empty_dir("m", medium="Memory")],
        [container("app", {"memory": "1Gi"}, mounts=("m",))],
        init_containers=[container("wait")],
    )

    spec = only_volume(body, NODE_64GI)
    findings = {f.id: f.severity for f in spec_findings(spec)}

    assert spec.pod_memory_limit_bytes is None
    assert (spec.effective_limit_bytes, spec.limit_source) == (
        64 * GI,
        LimitSource.NODE_ALLOCATABLE,
    )
    assert findings["ED002"] is Severity.CRITICAL


@pytest.mark.parametrize(
    ("init_containers", "expected_memory"),
    [
        pytest.param(
            [container("setup", {"memory": "256Mi"})],
            GI,
            id="init container with a limit - app containers still set the pod limit",
        ),
        pytest.param(
            [container("proxy", {"memory": "256Mi"}, restartPolicy="Always")],
            GI + 256 * MI,
            id="sidecar with a limit adds to the app containers",
        ),
        pytest.param(
            [container("proxy", restartPolicy="Always")],
            None,
            id="first sidecar without a limit - its running total has none",
        ),
        pytest.param(
            [
                container("proxy", {"memory": "256Mi"}, restartPolicy="Always"),
                container("agent", restartPolicy="Always"),
            ],
            GI + 256 * MI,
            id="later sidecar without a limit - the running sidecar total still has one",
        ),
        pytest.param(
            [
                container("proxy", {"memory": "256Mi"}, restartPolicy="Always"),
                container("wait"),
            ],
            GI + 256 * MI,
            id="init container without a limit after a sidecar with one - counted with it",
        ),
        pytest.param(
            [
                container("wait"),
                container("proxy", {"memory": "256Mi"}, restartPolicy="Always"),
            ],
            None,
            id="init container without a limit before any sidecar",
        ),
    ],
)
def test_memory_limit_is_declared_as_resource_config_for_pod_sees_it(
    init_containers: list[dict[str, Any]], expected_memory: int | None
) -> None:
    body = pod(
        [empty_dir("m", medium="Memory")],
        [container("app", {"memory": "1Gi"})],
        init_containers=init_containers,
    )

    assert pod_limits(body["spec"]).memory_bytes == expected_memory


def test_pod_level_memory_limit_declares_it_despite_an_unlimited_init_container() -> None:
    body = pod(
        [empty_dir("m", medium="Memory")],
        [container("app", {"memory": "1Gi"})],
        init_containers=[container("wait")],
        pod_resources={"limits": {"memory": "2Gi"}},
    )
    body["spec"]["overhead"] = {"memory": "128Mi"}

    # PodLimits replaces the memory term with the pod-level one, then adds overhead to it.
    assert pod_limits(body["spec"]).memory_bytes == 2 * GI + 128 * MI


def test_pod_overhead_is_added_to_the_memory_limit() -> None:
    body = pod([empty_dir("m", medium="Memory")], [container("a", {"memory": "1Gi"})])
    body["spec"]["overhead"] = {"memory": "128Mi"}

    assert only_volume(body).pod_memory_limit_bytes == GI + 128 * MI


@pytest.mark.parametrize(
    ("medium", "limits", "expected"),
    [
        pytest.param("HugePages-2Mi", {"hugepages-2Mi": "100Mi"}, 100 * MI, id="sized medium"),
        pytest.param("HugePages", {"hugepages-1Gi": "2Gi"}, 2 * GI, id="plain medium, one size"),
        pytest.param(
            "HugePages",
            {"hugepages-2Mi": "2Mi", "hugepages-1Gi": "1Gi"},
            None,
            id="plain medium, ambiguous sizes",
        ),
    ],
)
def test_hugepages_media_are_bounded_by_hugepages_limits(
    medium: str, limits: dict[str, str], expected: int | None
) -> None:
    spec = only_volume(pod([empty_dir("h", medium=medium)], [container("a", limits)]))

    assert spec.medium is Medium.HUGEPAGES
    assert spec.effective_limit_bytes == expected


def test_unknown_medium_and_invalid_quantities_are_problems_not_crashes() -> None:
    body = pod(
        [empty_dir("v", medium="Tape", size_limit="lots")],
        [container("a", {"memory": "1 Gi"})],
    )

    spec = only_volume(body)

    assert spec.medium is Medium.UNKNOWN
    assert spec.size_limit_bytes is None
    assert sorted(p.field_path for p in spec.problems) == [
        "spec.containers[0].resources.limits.memory",
        "spec.volumes[0].emptyDir.medium",
        "spec.volumes[0].emptyDir.sizeLimit",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1Gi", GI), ("500M", 500_000_000), ("1e9", 1_000_000_000), ("1.5Gi", 1536 * MI)],
)
def test_size_limit_quantities_parse_exactly(text: str, expected: int) -> None:
    assert only_volume(pod([empty_dir("v", size_limit=text)], [])).size_limit_bytes == expected


def test_old_kubelet_uses_kernel_default_tmpfs_size() -> None:
    old = NodeFacts(
        name="old",
        allocatable_memory_bytes=15 * GI,
        capacity_memory_bytes=16 * GI,
        kubelet_version="v1.21.14",
    )
    spec = only_volume(pod([empty_dir("m", "Memory", "1Gi")], [container("a")]), old)

    assert not kubelet_sizes_tmpfs(old)
    assert (spec.effective_limit_bytes, spec.limit_source) == (8 * GI, LimitSource.KERNEL_DEFAULT)


def test_windows_nodes_skip_tmpfs_sizing() -> None:
    windows = NodeFacts(name="win", allocatable_memory_bytes=GI, operating_system="windows")
    spec = only_volume(pod([empty_dir("m", "Memory")], [container("a")]), windows)

    assert (spec.effective_limit_bytes, spec.limit_source) == (None, LimitSource.NONE)


def test_unknown_node_leaves_node_term_unset() -> None:
    spec = only_volume(pod([empty_dir("v")], [container("a")]), None)

    assert (spec.effective_limit_bytes, spec.limit_source) == (None, LimitSource.NONE)


def test_workload_is_controller_owner_or_resolved_parent_or_pod() -> None:
    web = load("pod_web.json")
    deployment = WorkloadRef(kind="Deployment", name="web", namespace="shop", uid="d-1")

    assert workload_of(web).kind == "ReplicaSet"
    assert workload_of(web, {("ReplicaSet", "web-7d9f8c6b5"): deployment}) == deployment
    assert workload_of(pod([], [])) == WorkloadRef("Pod", "p", "ns", "uid-p", "v1")
