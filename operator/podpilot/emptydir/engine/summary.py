"""Parse the kubelet Summary API (``/stats/summary``) into per-pod volume samples.

The wire types are ``k8s.io/kubelet/pkg/apis/stats/v1alpha1``. Every ``FsStats`` field is an
omitempty pointer, pods may lack ``volume`` or ``ephemeral-storage``, and the controller may hand us
a body that was cut short. Missing or malformed values become ``None`` and a note in
``problems``; nothing is ever defaulted to zero.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podpilot.apimachinery.timestamps import parse_datetime
from podpilot.emptydir.engine.model import FsSample, PodRef

MAX_PROBLEMS_KEPT = 20
"""Problems a ``NodeSummary`` keeps; a hostile body could otherwise name millions."""


class SummaryDecodeError(ValueError):
    """Raised when a Summary body is not a JSON object at all (e.g. cut short, nested too deep)."""


class _Problems:
    """The first ``MAX_PROBLEMS_KEPT`` problems noted, and a count of the others."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.omitted = 0

    def append(self, problem: str) -> None:
        if len(self.kept) < MAX_PROBLEMS_KEPT:
            self.kept.append(problem)
        else:
            self.omitted += 1


@dataclass(frozen=True)
class PodUsage:
    """One ``PodStats`` entry.

    Attributes:
        pod: ``podRef``.
        volumes: ``volume[]`` by name; contains configMap, secret and PVC volumes too.
        ephemeral_storage: ``ephemeral-storage``: the pod's writable layers, logs and disk
            emptyDirs, or ``None`` if absent.
    """

    pod: PodRef
    volumes: Mapping[str, FsSample] = field(default_factory=dict)
    ephemeral_storage: FsSample | None = None


@dataclass(frozen=True)
class NodeSummary:
    """A parsed Summary.

    Attributes:
        node_name: ``node.nodeName``, if present.
        node_fs: ``node.fs`` (the kubelet root filesystem), if present.
        pods: ``pods[]`` keyed by pod uid.
        problems: What was skipped or unreadable, for logs and the ``StatsComplete`` condition;
            at most ``MAX_PROBLEMS_KEPT``.
        problems_omitted: How many more problems there were.
    """

    node_name: str | None
    node_fs: FsSample | None
    pods: Mapping[str, PodUsage]
    problems: tuple[str, ...] = ()
    problems_omitted: int = 0


def decode_summary(body: str | bytes) -> NodeSummary:
    """Decode a Summary response body.

    Args:
        body: The raw HTTP body.

    Returns:
        The parsed summary.

    Raises:
        SummaryDecodeError: If the body is not JSON, not a JSON object, nested deeper than the
            decoder goes or too large to decode in memory.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise SummaryDecodeError(f"summary is not valid JSON: {error}") from error
    except RecursionError:
        raise SummaryDecodeError("summary is nested deeper than the JSON decoder goes") from None
    except MemoryError:
        raise SummaryDecodeError("summary is too large to decode in memory") from None
    if not isinstance(document, Mapping):
        raise SummaryDecodeError(f"summary is a JSON {type(document).__name__}, not an object")
    return parse_summary(document)


def parse_summary(document: Mapping[str, Any]) -> NodeSummary:
    """Parse an already decoded Summary object, tolerating missing and malformed parts.

    Args:
        document: The decoded JSON object.

    Returns:
        The parsed summary; entries without a ``podRef.uid`` are skipped and noted.
    """
    problems = _Problems()
    node = document.get("node")
    node_name: str | None = None
    node_fs: FsSample | None = None
    if isinstance(node, Mapping):
        node_name = node.get("nodeName") if isinstance(node.get("nodeName"), str) else None
        node_fs = _fs_sample(node.get("fs"), "node.fs", problems)
    else:
        problems.append("node: missing")
    pods: dict[str, PodUsage] = {}
    raw_pods = document.get("pods")
    if raw_pods is not None and not isinstance(raw_pods, list):
        problems.append("pods: not a list")
        raw_pods = None
    for index, entry in enumerate(raw_pods or []):
        usage = _pod_usage(entry, f"pods[{index}]", problems)
        if usage is None:
            continue
        if usage.pod.uid in pods:
            problems.append(f"pods[{index}]: duplicate uid {usage.pod.uid}; keeping the last")
        pods[usage.pod.uid] = usage
    return NodeSummary(node_name, node_fs, pods, tuple(problems.kept), problems.omitted)


def _pod_usage(entry: object, path: str, problems: _Problems) -> PodUsage | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{path}: not an object")
        return None
    ref = entry.get("podRef")
    uid = ref.get("uid") if isinstance(ref, Mapping) else None
    if not isinstance(ref, Mapping) or not isinstance(uid, str) or not uid:
        problems.append(f"{path}.podRef.uid: missing")
        return None
    pod = PodRef(
        namespace=str(ref.get("namespace") or ""), name=str(ref.get("name") or ""), uid=uid
    )
    volumes: dict[str, FsSample] = {}
    raw_volumes = entry.get("volume")
    if raw_volumes is not None and not isinstance(raw_volumes, list):
        problems.append(f"{path}.volume: not a list")
        raw_volumes = None
    for index, raw_volume in enumerate(raw_volumes or []):
        volume_path = f"{path}.volume[{index}]"
        name = raw_volume.get("name") if isinstance(raw_volume, Mapping) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{volume_path}.name: missing")
            continue
        sample = _fs_sample(raw_volume, volume_path, problems)
        if sample is not None:
            volumes[name] = sample
    ephemeral = _fs_sample(entry.get("ephemeral-storage"), f"{path}.ephemeral-storage", problems)
    return PodUsage(pod=pod, volumes=volumes, ephemeral_storage=ephemeral)


def _fs_sample(raw: object, path: str, problems: _Problems) -> FsSample | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: not an object")
        return None
    return FsSample(
        time=_timestamp(raw.get("time"), f"{path}.time", problems),
        used_bytes=_count(raw, "usedBytes", path, problems),
        capacity_bytes=_count(raw, "capacityBytes", path, problems),
        available_bytes=_count(raw, "availableBytes", path, problems),
        inodes=_count(raw, "inodes", path, problems),
        inodes_used=_count(raw, "inodesUsed", path, problems),
        inodes_free=_count(raw, "inodesFree", path, problems),
    )


def _count(raw: Mapping[str, Any], key: str, path: str, problems: _Problems) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.append(f"{path}.{key}: not a non-negative integer: {value!r}")
        return None
    return value


def _timestamp(value: object, path: str, problems: _Problems) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{path}: not a string")
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        problems.append(f"{path}: not RFC 3339: {value!r}")
    return parsed


@dataclass(frozen=True)
class NodeStatsState:
    """What the controller knows about one node's Summary endpoint.

    Attributes:
        summary: The last Summary that parsed, kept across failures so values go stale rather
            than vanish.
        last_success: When ``summary`` was fetched.
        consecutive_failures: Failed polls since then (unreachable, 403, timeout, bad JSON).
        last_error: A short description of the latest failure.
    """

    summary: NodeSummary | None = None
    last_success: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
