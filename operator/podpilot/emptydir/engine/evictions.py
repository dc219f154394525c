"""Trace kubelet evictions and OOM kills back to emptyDir volumes.

The eviction manager writes one of these messages into ``status.message`` of the evicted pod and
into the ``Evicted`` Event (``pkg/kubelet/eviction/helpers.go``); note the trailing space:

* ``Usage of EmptyDir volume %q exceeds the limit %q. `` (checked first);
* ``Pod ephemeral local storage usage exceeds the total limit of containers %s. ``;
* ``Container %s exceeded its local ephemeral storage limit %q. `` (counts only that container's
  logs and writable layer, so an emptyDir is never the cause);
* ``The node was low on resource: %v. `` followed by threshold and per-container details, for
  node-pressure evictions.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from podpilot.emptydir.engine._format import format_bytes
from podpilot.emptydir.engine.catalogue import (
    EVICTED_CONTAINER_EPHEMERAL_LIMIT,
    EVICTED_EMPTYDIR_LIMIT,
    EVICTED_NODE_PRESSURE,
    EVICTED_POD_EPHEMERAL_LIMIT,
    OOM_KILLED_WITH_TMPFS,
    make_finding,
)
from podpilot.emptydir.engine.model import (
    Finding,
    FsSample,
    Medium,
    PodRef,
    Severity,
    Thresholds,
    VolumeSpec,
)
from podpilot.emptydir.engine.volumes import pod_ref


class EvictionKind(StrEnum):
    """Which kubelet check evicted the pod; values match the ``reason`` metric label."""

    EMPTYDIR_LIMIT = "emptydir"
    POD_EPHEMERAL_LIMIT = "pod_ephemeral"
    CONTAINER_EPHEMERAL_LIMIT = "container_ephemeral"
    NODE_PRESSURE = "node_pressure"


@dataclass(frozen=True)
class EvictionCause:
    """What an eviction message says.

    Attributes:
        kind: Which check fired.
        limit: The limit as the kubelet printed it (``Quantity.String()``), if any.
        volume: The emptyDir named by an emptyDir-limit eviction.
        container: The container named by a container-limit eviction.
        resource: The starved resource of a node-pressure eviction (``ephemeral-storage``,
            ``memory``, ``inodes``, ...).
    """

    kind: EvictionKind
    limit: str | None = None
    volume: str | None = None
    container: str | None = None
    resource: str | None = None


_EMPTYDIR = re.compile(
    r'Usage of EmptyDir volume "(?P<volume>[^"]*)" exceeds the limit "(?P<limit>[^"]*)"\.'
)
_POD = re.compile(
    r"Pod ephemeral local storage usage exceeds the total limit of containers "
    r"(?P<limit>\S+?)\.(?:\s|$)"
)
_CONTAINER = re.compile(
    r'Container (?P<container>\S+) exceeded its local ephemeral storage limit "(?P<limit>[^"]*)"\.'
)
_NODE = re.compile(r"The node was low on resource: (?P<resource>[^.\s]+)\.")
_DISK_RESOURCES = frozenset({"ephemeral-storage", "inodes"})


def parse_eviction_message(message: str) -> EvictionCause | None:
    """Recognise a kubelet eviction message.

    Args:
        message: ``status.message`` of an evicted pod, or an ``Evicted`` Event's message.

    Returns:
        The cause, or ``None`` if the message is not one of the kubelet's formats.
    """
    if match := _EMPTYDIR.search(message):
        return EvictionCause(EvictionKind.EMPTYDIR_LIMIT, match["limit"], volume=match["volume"])
    if match := _POD.search(message):
        return EvictionCause(EvictionKind.POD_EPHEMERAL_LIMIT, match["limit"])
    if match := _CONTAINER.search(message):
        return EvictionCause(
            EvictionKind.CONTAINER_EPHEMERAL_LIMIT, match["limit"], container=match["container"]
        )
    if match := _NODE.search(message):
        return EvictionCause(EvictionKind.NODE_PRESSURE, resource=match["resource"])
    return None


def eviction_findings(
    pod: Mapping[str, Any],
    volumes: Sequence[VolumeSpec],
    last_usage: Mapping[str, FsSample] | None = None,
) -> tuple[Finding, ...]:
    """Findings for a pod the kubelet evicted, traced to its emptyDir volumes.

    Args:
        pod: The Pod object (``status.reason == "Evicted"`` and ``status.message`` are read).
        volumes: The pod's emptyDir volumes from :func:`.volumes.emptydir_volumes`.
        last_usage: The last known sample per volume name, to name the likely culprit.

    Returns:
        Zero or one finding.
    """
    status = pod.get("status") if isinstance(pod.get("status"), Mapping) else {}
    if not isinstance(status, Mapping) or status.get("reason") != "Evicted":
        return ()
    message = str(status.get("message") or "")
    cause = parse_eviction_message(message)
    if cause is None:
        return ()
    return (trace_eviction(cause, message, pod_ref(pod), volumes, last_usage or {}),)


def trace_eviction(
    cause: EvictionCause,
    message: str,
    pod: PodRef,
    volumes: Sequence[VolumeSpec],
    last_usage: Mapping[str, FsSample],
) -> Finding:
    """Turn a parsed eviction into a finding, naming the volume where one can be named.

    Args:
        cause: The parsed message.
        message: The original message, kept as evidence.
        pod: The evicted pod.
        volumes: Its emptyDir volumes, if the spec is still known.
        last_usage: The last known sample per volume name.

    Returns:
        The finding.
    """
    evidence = {"kubeletMessage": message.strip(), "limit": cause.limit}
    if cause.kind is EvictionKind.EMPTYDIR_LIMIT:
        return make_finding(
            EVICTED_EMPTYDIR_LIMIT,
            f"Evicted: emptyDir {cause.volume!r} grew past its sizeLimit {cause.limit}.",
            pod,
            volume=cause.volume,
            evidence=evidence,
        )
    if cause.kind is EvictionKind.CONTAINER_EPHEMERAL_LIMIT:
        return make_finding(
            EVICTED_CONTAINER_EPHEMERAL_LIMIT,
            f"Evicted: container {cause.container!r} exceeded its ephemeral-storage limit "
            f"{cause.limit} with logs and writable layer; no emptyDir counts toward it.",
            pod,
            container=cause.container,
            evidence=evidence,
        )
    if cause.kind is EvictionKind.POD_EPHEMERAL_LIMIT:
        suspect = _largest([v for v in volumes if v.medium is Medium.DISK], last_usage)
        return make_finding(
            EVICTED_POD_EPHEMERAL_LIMIT,
            f"Evicted: pod ephemeral-storage usage passed the containers' total limit "
            f"{cause.limit}"
            + (f"; disk emptyDir {suspect.name!r} counts toward it." if suspect else "."),
            pod,
            volume=suspect.name if suspect else None,
            evidence={
                **evidence,
                "lastUsedBytes": _used(suspect, last_usage),
                "diskEmptyDirs": ",".join(v.name for v in volumes if v.medium is Medium.DISK)
                or None,
            },
        )
    wanted = Medium.DISK if cause.resource in _DISK_RESOURCES else Medium.MEMORY
    candidates = [v for v in volumes if v.medium is wanted]
    unbounded = [v for v in candidates if v.size_limit_bytes is None]
    suspect = _largest(unbounded or candidates, last_usage)
    return make_finding(
        EVICTED_NODE_PRESSURE,
        f"Evicted: the node ran low on {cause.resource}"
        + (
            f"; emptyDir {suspect.name!r} ({'no sizeLimit' if suspect in unbounded else 'bounded'})"
            " uses that resource."
            if suspect
            else "."
        ),
        pod,
        volume=suspect.name if suspect else None,
        severity=Severity.WARNING if suspect else Severity.INFO,
        evidence={
            **evidence,
            "resource": cause.resource,
            "lastUsedBytes": _used(suspect, last_usage),
        },
    )


def oom_findings(
    pod: Mapping[str, Any],
    volumes: Sequence[VolumeSpec],
    last_usage: Mapping[str, FsSample],
    thresholds: Thresholds,
) -> tuple[Finding, ...]:
    """Trace ``OOMKilled`` containers to memory-backed volumes they write to.

    tmpfs pages are charged to the writer's memory cgroup and are not freed when the container
    restarts, so a filled tmpfs keeps OOM-killing it. A kill is traced when the volume's last known
    usage is at least ``thresholds.oom_usage_ratio`` of the container's memory limit; with no usage
    sample it is reported at info severity as a possibility.

    Args:
        pod: The Pod object (container statuses are read).
        volumes: Its emptyDir volumes.
        last_usage: The last known sample per volume name.
        thresholds: Audit thresholds.

    Returns:
        One finding per (OOM-killed container, memory volume it writes) pair that qualifies.
    """
    findings: list[Finding] = []
    ref = pod_ref(pod)
    for container in _oom_killed_containers(pod):
        for volume in volumes:
            if volume.medium is not Medium.MEMORY:
                continue
            mounter = next(
                (m for m in volume.mounters if m.container == container and not m.read_only),
                None,
            )
            if mounter is None:
                continue
            limit = mounter.memory_limit_bytes or volume.pod_memory_limit_bytes
            used = _used(volume, last_usage)
            if used is not None and limit and used < thresholds.oom_usage_ratio * limit:
                continue
            certain = used is not None and limit is not None
            findings.append(
                make_finding(
                    OOM_KILLED_WITH_TMPFS,
                    f"Container {container!r} was OOMKilled while writing memory-backed emptyDir "
                    f"{volume.name!r} ({format_bytes(used)} used of a {format_bytes(limit)} "
                    "memory limit); tmpfs pages count against that limit.",
                    ref,
                    volume=volume.name,
                    container=container,
                    severity=None if certain else Severity.INFO,
                    evidence={"usedBytes": used, "memoryLimitBytes": limit},
                )
            )
    return tuple(findings)


def _oom_killed_containers(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status")
    if not isinstance(status, Mapping):
        return []
    names: list[str] = []
    for key in ("containerStatuses", "initContainerStatuses"):
        for entry in status.get(key) or []:
            if not isinstance(entry, Mapping):
                continue
            for state_key in ("state", "lastState"):
                state = entry.get(state_key)
                terminated = state.get("terminated") if isinstance(state, Mapping) else None
                if isinstance(terminated, Mapping) and terminated.get("reason") == "OOMKilled":
                    names.append(str(entry.get("name") or ""))
                    break
    return names


def _largest(
    volumes: Sequence[VolumeSpec], last_usage: Mapping[str, FsSample]
) -> VolumeSpec | None:
    if not volumes:
        return None
    if len(volumes) == 1:
        return volumes[0]
    known = [v for v in volumes if _used(v, last_usage) is not None]
    if not known:
        return None
    return max(known, key=lambda v: _used(v, last_usage) or 0)


def _used(volume: VolumeSpec | None, last_usage: Mapping[str, FsSample]) -> int | None:
    if volume is None:
        return None
    sample = last_usage.get(volume.name)
    return sample.used_bytes if sample else None
