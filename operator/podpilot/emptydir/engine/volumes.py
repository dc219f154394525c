"""Pod spec → emptyDir volumes with their effective limits.

The rules mirror the kubelet:

* disk medium: the eviction manager evicts when the volume's usage exceeds ``sizeLimit``, or when
  the pod's ephemeral-storage usage (writable layers, logs *and* disk emptyDirs) exceeds the pod
  limit, or under node disk pressure. The effective limit is the smallest of those bounds. On a tie
  the pod limit wins, because the pod's usage includes the volume's and so crosses first.
* memory medium: ``calculateEmptyDirMemorySize`` sizes the tmpfs as
  ``min(node allocatable memory, pod memory limit, sizeLimit)`` over the terms that are set, later
  terms winning ties. The pod memory limit only exists when ``ResourceConfigForPod`` finds it
  declared everywhere (see :func:`pod_limits`), or the pod sets ``spec.resources.limits.memory``.
* hugepages media: bounded by the pod's hugepages limit of that page size.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.json_fields import mapping
from podpilot.apimachinery.quantities import QuantityError, whole_value
from podpilot.emptydir.engine.model import (
    LimitSource,
    Medium,
    Mounter,
    NodeFacts,
    PodRef,
    SpecProblem,
    VolumeSpec,
    WorkloadRef,
)

MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
_HUGEPAGES_MEDIUM = re.compile(r"^HugePages(?:-(?P<size>.+))?$")
_FIRST_KUBELET_SIZING_TMPFS = (1, 22)  # SizeMemoryBackedVolumes on by default (beta)


@dataclass(frozen=True)
class PodLimits:
    """Pod-wide limits as the kubelet derives them from container resources.

    Attributes:
        ephemeral_storage_bytes: What the eviction manager compares pod usage against.
        memory_bytes: What tmpfs sizing uses; ``None`` when some container has no memory limit
            (see :func:`pod_limits`) and the pod sets none itself.
        hugepages_bytes: Hugepages limits by resource name (``"hugepages-2Mi"`` → bytes).
        problems: Resource quantities that could not be parsed.
    """

    ephemeral_storage_bytes: int | None
    memory_bytes: int | None
    hugepages_bytes: Mapping[str, int]
    problems: tuple[SpecProblem, ...]


def pod_ref(pod: Mapping[str, Any]) -> PodRef:
    """Read a pod's namespace, name and uid.

    Args:
        pod: A Pod object as the API returns it.

    Returns:
        The pod's identity; missing fields become empty strings.
    """
    metadata = mapping(pod.get("metadata"))
    return PodRef(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
    )


def workload_of(
    pod: Mapping[str, Any],
    resolved_parents: Mapping[tuple[str, str], WorkloadRef] | None = None,
) -> WorkloadRef:
    """Find the workload a pod rolls up to.

    The controlling ownerReference is used; a ReplicaSet or Job is replaced by its own owner
    (Deployment, CronJob) when the caller has resolved it. Bare pods roll up to themselves.

    Args:
        pod: A Pod object as the API returns it.
        resolved_parents: Owners of the pod's owners, keyed by ``(kind, name)`` of the pod's owner
            in the pod's namespace, as looked up by the controller.

    Returns:
        The workload reference.
    """
    ref = pod_ref(pod)
    owners = mapping(pod.get("metadata")).get("ownerReferences") or []
    controller = next(
        (o for o in owners if isinstance(o, Mapping) and o.get("controller") is True), None
    )
    if controller is None:
        return WorkloadRef(
            kind="Pod", name=ref.name, namespace=ref.namespace, uid=ref.uid, api_version="v1"
        )
    owner = WorkloadRef(
        kind=str(controller.get("kind") or ""),
        name=str(controller.get("name") or ""),
        namespace=ref.namespace,
        uid=controller.get("uid"),
        api_version=controller.get("apiVersion"),
    )
    if resolved_parents:
        return resolved_parents.get((owner.kind, owner.name), owner)
    return owner


def pod_limits(pod_spec: Mapping[str, Any]) -> PodLimits:
    """Derive the pod-wide limits the kubelet uses for eviction and tmpfs sizing.

    App containers and sidecars (init containers with ``restartPolicy: Always``) add up; each
    plain init container counts with the sidecars started before it, and the pod takes the larger
    of the two totals (the sidecar KEP formula, ``PodLimits`` in component-helpers).

    The memory term exists only if ``ResourceConfigForPod`` leaves ``memoryLimitsDeclared`` set:
    its ``ContainerFn`` callback sees each app container's limits, each sidecar's running total of
    sidecar limits and each plain init container's limits plus the sidecars started before it,
    and any of them without a memory limit makes the pod cgroup (and so the tmpfs) unlimited.
    A pod-level ``spec.resources.limits.memory`` replaces the term and always declares it. Pod
    overhead is then added to a memory limit, as ``PodLimits`` adds it to non-zero limits.
    Pod-level ``spec.resources`` supports cpu, memory and hugepages only, so it can replace the
    memory term but never the ephemeral-storage one.

    Args:
        pod_spec: ``pod.spec``.

    Returns:
        The derived limits and any quantities that failed to parse.
    """
    problems: list[SpecProblem] = []
    totals, memory_limits_declared = _aggregate_container_limits(pod_spec, problems)

    memory: int | None = totals.get(MEMORY) if memory_limits_declared else None
    pod_level = mapping(mapping(pod_spec.get("resources")).get("limits"))
    if MEMORY in pod_level:
        pod_level_memory = _parse(pod_level[MEMORY], "spec.resources.limits.memory", problems)
        if pod_level_memory:
            memory = pod_level_memory
    if memory:
        overhead = mapping(pod_spec.get("overhead")).get(MEMORY)
        if overhead is not None:
            memory += _parse(overhead, "spec.overhead.memory", problems) or 0
    hugepages = {k: v for k, v in totals.items() if k.startswith("hugepages-")}
    for name, value in pod_level.items():
        if isinstance(name, str) and name.startswith("hugepages-"):
            parsed = _parse(value, f"spec.resources.limits.{name}", problems)
            if parsed is not None:
                hugepages[name] = parsed
    return PodLimits(
        ephemeral_storage_bytes=totals.get(EPHEMERAL_STORAGE),
        memory_bytes=memory or None,
        hugepages_bytes=hugepages,
        problems=tuple(problems),
    )


def emptydir_volumes(
    pod: Mapping[str, Any],
    node: NodeFacts | None,
    resolved_parents: Mapping[tuple[str, str], WorkloadRef] | None = None,
) -> tuple[VolumeSpec, ...]:
    """List a pod's emptyDir volumes with their limits and effective limit.

    Args:
        pod: A Pod object as the API returns it.
        node: Facts about the pod's node, or ``None`` when unscheduled or unknown.
        resolved_parents: See :func:`workload_of`.

    Returns:
        One :class:`VolumeSpec` per emptyDir volume, in spec order. Invalid quantities and unknown
        media are recorded in ``problems`` rather than raised.
    """
    spec = mapping(pod.get("spec"))
    ref = pod_ref(pod)
    workload = workload_of(pod, resolved_parents)
    limits = pod_limits(spec)
    mounters = _mounters_by_volume(spec, limits)
    result: list[VolumeSpec] = []
    for index, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, Mapping) or "emptyDir" not in volume:
            continue
        empty_dir = mapping(volume.get("emptyDir"))
        name = str(volume.get("name") or "")
        problems = list(limits.problems)
        raw_medium = str(empty_dir.get("medium") or "")
        medium, hugepages_resource = _medium(raw_medium, limits)
        if medium is Medium.UNKNOWN:
            problems.append(
                SpecProblem(f"spec.volumes[{index}].emptyDir.medium", raw_medium, "unknown medium")
            )
        size_limit = _size_limit(empty_dir, index, problems)
        result.append(
            _with_effective_limit(
                VolumeSpec(
                    pod=ref,
                    workload=workload,
                    node_name=spec.get("nodeName") or (node.name if node else None),
                    name=name,
                    medium=medium,
                    raw_medium=raw_medium,
                    size_limit_bytes=size_limit,
                    pod_ephemeral_limit_bytes=limits.ephemeral_storage_bytes,
                    pod_memory_limit_bytes=limits.memory_bytes,
                    pod_hugepages_limit_bytes=(
                        limits.hugepages_bytes.get(hugepages_resource)
                        if hugepages_resource
                        else None
                    ),
                    node_allocatable_bytes=_node_allocatable(medium, node),
                    effective_limit_bytes=None,
                    limit_source=LimitSource.NONE,
                    mounters=mounters.get(name, ()),
                    problems=tuple(problems),
                ),
                node,
            )
        )
    return tuple(result)


def kubelet_sizes_tmpfs(node: NodeFacts | None) -> bool:
    """Whether the node's kubelet sizes memory-backed volumes (``SizeMemoryBackedVolumes``).

    The gate is on by default from 1.22; an unknown or unparsable version is assumed current.

    Args:
        node: Node facts, or ``None``.

    Returns:
        ``False`` only for kubelets known to be older than 1.22.
    """
    if node is None or not node.kubelet_version:
        return True
    match = re.match(r"^v?(\d+)\.(\d+)", node.kubelet_version)
    if match is None:
        return True
    return (int(match[1]), int(match[2])) >= _FIRST_KUBELET_SIZING_TMPFS


def _with_effective_limit(volume: VolumeSpec, node: NodeFacts | None) -> VolumeSpec:
    limit, source = _effective_limit(volume, node)
    return VolumeSpec(**{**volume.__dict__, "effective_limit_bytes": limit, "limit_source": source})


def _effective_limit(volume: VolumeSpec, node: NodeFacts | None) -> tuple[int | None, LimitSource]:
    if volume.medium is Medium.DISK:
        # Earlier entries win ties: see the module docstring.
        return _smallest(
            [
                (volume.pod_ephemeral_limit_bytes, LimitSource.POD_EPHEMERAL_LIMIT),
                (volume.size_limit_bytes, LimitSource.SIZE_LIMIT),
                (volume.node_allocatable_bytes, LimitSource.NODE_ALLOCATABLE),
            ]
        )
    if volume.medium is Medium.MEMORY:
        return _tmpfs_size(volume, node)
    if volume.medium is Medium.HUGEPAGES and volume.pod_hugepages_limit_bytes:
        return volume.pod_hugepages_limit_bytes, LimitSource.POD_HUGEPAGES_LIMIT
    return None, LimitSource.NONE


def _tmpfs_size(volume: VolumeSpec, node: NodeFacts | None) -> tuple[int | None, LimitSource]:
    if node is not None and (node.operating_system or "").lower() == "windows":
        return None, LimitSource.NONE
    if not kubelet_sizes_tmpfs(node):
        if node is not None and node.capacity_memory_bytes:
            return node.capacity_memory_bytes // 2, LimitSource.KERNEL_DEFAULT
        return None, LimitSource.KERNEL_DEFAULT
    size: int | None = volume.node_allocatable_bytes
    source = LimitSource.NODE_ALLOCATABLE if size is not None else LimitSource.NONE
    # Same replacement order as calculateEmptyDirMemorySize: later terms win ties.
    for candidate, candidate_source in (
        (volume.pod_memory_limit_bytes, LimitSource.POD_MEMORY_LIMIT),
        (volume.size_limit_bytes, LimitSource.SIZE_LIMIT),
    ):
        if candidate and (size is None or candidate <= size):
            size, source = candidate, candidate_source
    return size, source


def _smallest(
    candidates: Iterable[tuple[int | None, LimitSource]],
) -> tuple[int | None, LimitSource]:
    best: tuple[int | None, LimitSource] = (None, LimitSource.NONE)
    for value, source in candidates:
        if value is not None and (best[0] is None or value < best[0]):
            best = (value, source)
    return best


def _medium(raw: str, limits: PodLimits) -> tuple[Medium, str | None]:
    if raw == "":
        return Medium.DISK, None
    if raw == "Memory":
        return Medium.MEMORY, None
    match = _HUGEPAGES_MEDIUM.match(raw)
    if match is None:
        return Medium.UNKNOWN, None
    if match["size"]:
        return Medium.HUGEPAGES, f"hugepages-{match['size']}"
    sizes = sorted(limits.hugepages_bytes)
    # Plain "HugePages" takes the page size of the pod's only hugepages resource.
    return Medium.HUGEPAGES, sizes[0] if len(sizes) == 1 else None


def _size_limit(
    empty_dir: Mapping[str, Any], index: int, problems: list[SpecProblem]
) -> int | None:
    raw = empty_dir.get("sizeLimit")
    if raw is None:
        return None
    path = f"spec.volumes[{index}].emptyDir.sizeLimit"
    value = _parse(raw, path, problems)
    if value is not None and value < 0:
        problems.append(SpecProblem(path, str(raw), "negative quantity"))
    # The kubelet only enforces a limit whose sign is positive.
    return value if value is not None and value > 0 else None


def _node_allocatable(medium: Medium, node: NodeFacts | None) -> int | None:
    if node is None:
        return None
    if medium is Medium.DISK:
        return node.allocatable_ephemeral_bytes
    if medium is Medium.MEMORY:
        return node.allocatable_memory_bytes
    return None


def _aggregate_container_limits(
    pod_spec: Mapping[str, Any], problems: list[SpecProblem]
) -> tuple[dict[str, int], bool]:
    totals: dict[str, int] = {}
    memory_limits_declared = True
    for index, container in enumerate(pod_spec.get("containers") or []):
        limits = _container_limits(container, f"spec.containers[{index}]", problems)
        memory_limits_declared = memory_limits_declared and bool(limits.get(MEMORY))
        _add(totals, limits)
    sidecar_totals: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for index, container in enumerate(pod_spec.get("initContainers") or []):
        limits = _container_limits(container, f"spec.initContainers[{index}]", problems)
        if _is_sidecar(container):
            _add(totals, limits)
            _add(sidecar_totals, limits)
            running = dict(sidecar_totals)
        else:
            running = dict(sidecar_totals)
            _add(running, limits)
        # ``running`` is what ResourceConfigForPod's ContainerFn is called with for this container.
        memory_limits_declared = memory_limits_declared and bool(running.get(MEMORY))
        _max(init_peak, running)
    _max(totals, init_peak)
    return totals, memory_limits_declared


def _container_limits(container: object, path: str, problems: list[SpecProblem]) -> dict[str, int]:
    if not isinstance(container, Mapping):
        return {}
    limits = mapping(mapping(container.get("resources")).get("limits"))
    parsed: dict[str, int] = {}
    for name, raw in limits.items():
        if name in (MEMORY, EPHEMERAL_STORAGE) or str(name).startswith("hugepages-"):
            value = _parse(raw, f"{path}.resources.limits.{name}", problems)
            if value is not None:
                parsed[str(name)] = value
    return parsed


def _mounters_by_volume(
    pod_spec: Mapping[str, Any], limits: PodLimits
) -> dict[str, tuple[Mounter, ...]]:
    found: dict[str, list[Mounter]] = {}
    scratch: list[SpecProblem] = []  # already reported by pod_limits
    for list_name, default_kind in (
        ("containers", "container"),
        ("initContainers", "initContainer"),
        ("ephemeralContainers", "ephemeralContainer"),
    ):
        for container in pod_spec.get(list_name) or []:
            if not isinstance(container, Mapping):
                continue
            kind = "sidecar" if _is_sidecar(container) else default_kind
            memory = _container_limits(container, "", scratch).get(MEMORY)
            for mount in container.get("volumeMounts") or []:
                if not isinstance(mount, Mapping):
                    continue
                found.setdefault(str(mount.get("name") or ""), []).append(
                    Mounter(
                        container=str(container.get("name") or ""),
                        kind=kind,
                        read_only=bool(mount.get("readOnly", False)),
                        memory_limit_bytes=memory or None,
                    )
                )
    return {name: tuple(mounters) for name, mounters in found.items()}


def _is_sidecar(container: object) -> bool:
    return isinstance(container, Mapping) and container.get("restartPolicy") == "Always"


def _parse(raw: object, path: str, problems: list[SpecProblem]) -> int | None:
    try:
        return whole_value(raw)
    except QuantityError:
        problems.append(SpecProblem(path, str(raw), "invalid quantity"))
        return None


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for name, value in other.items():
        into[name] = into.get(name, 0) + value


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for name, value in other.items():
        into[name] = max(into.get(name, value), value)
