"""Pods as the engine sees them, converted once from API objects when the watch delivers them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.quantities import QuantityError, milli_value
from podpilot.apimachinery.selectors import Selector
from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.engine import ContainerSpec, PodInfo, PodPhase, ReadyCondition

# (namespace, label key, label value); the key "" (never a label key) holds every pod.
PodKey = tuple[str, str, str]
PodBucket = Callable[[PodKey], Collection["CachedPod"]]


@dataclass(frozen=True, slots=True)
class CachedPod:
    """What the watch-fed pod cache keeps per pod: its labels and its engine view."""

    labels: Mapping[str, str]
    info: PodInfo


def _requests(resources: Mapping[str, Any] | None) -> dict[str, int]:
    requests: Mapping[str, Any] = (resources or {}).get("requests") or {}
    converted: dict[str, int] = {}
    for resource, quantity in requests.items():
        try:
            converted[resource] = milli_value(str(quantity))
        except QuantityError:
            continue  # the apiserver validates requests; an odd one counts as missing
    return converted


def _container(raw: Mapping[str, Any]) -> ContainerSpec:
    return ContainerSpec(
        name=str(raw.get("name", "")),
        requests=_requests(raw.get("resources")),
        restartable_init=raw.get("restartPolicy") == "Always",
    )


def _ready(conditions: list[Mapping[str, Any]]) -> ReadyCondition | None:
    for condition in conditions:
        if condition.get("type") == "Ready":
            status = {"True": True, "False": False}.get(str(condition.get("status")))
            transition = parse_time(condition.get("lastTransitionTime")) or 0.0
            return ReadyCondition(status, transition)
    return None


def cached_pod(pod: Mapping[str, Any]) -> CachedPod:
    """Convert a pod from the API into its cache entry."""
    metadata: Mapping[str, Any] = pod.get("metadata") or {}
    spec: Mapping[str, Any] = pod.get("spec") or {}
    status: Mapping[str, Any] = pod.get("status") or {}
    try:
        phase = PodPhase(status.get("phase", "Pending"))
    except ValueError:
        phase = PodPhase.UNKNOWN
    pod_resources = spec.get("resources")
    info = PodInfo(
        name=str(metadata.get("name", "")),
        phase=phase,
        deleted=metadata.get("deletionTimestamp") is not None,
        start_time=parse_time(status.get("startTime")),
        ready=_ready(status.get("conditions") or []),
        containers=tuple(_container(c) for c in spec.get("containers") or []),
        init_containers=tuple(_container(c) for c in spec.get("initContainers") or []),
        pod_level_requests=_requests(pod_resources) if pod_resources else None,
    )
    return CachedPod(labels=dict(metadata.get("labels") or {}), info=info)


def pod_keys(namespace: str, labels: Mapping[str, str]) -> list[PodKey]:
    """Where the pod cache files a pod: its namespace, and each of its labels in it."""
    return [(namespace, "", ""), *((namespace, key, value) for key, value in labels.items())]


def select_pods(bucket: PodBucket, namespace: str, selector: Selector) -> list[CachedPod]:
    """The pods of ``namespace`` that ``selector`` matches. Only the smallest bucket of a
    label the selector requires is tested, not every pod of the namespace (with 2,000
    Autoscalers over 6,000 pods that scan was the evaluations' largest cost)."""
    candidates = bucket((namespace, "", ""))
    for key, value in selector.required_labels:
        labelled = bucket((namespace, key, value))
        if len(labelled) < len(candidates):
            candidates = labelled
    return [pod for pod in candidates if selector.matches(pod.labels)]
