"""Sort selected pods into ready, unready, missing and ignored (``groupPods``).

Port of ``groupPods`` and ``removeMetricsForPods`` in
``pkg/controller/podautoscaler/replica_calculator.go``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import CPU, PodInfo, PodMetric, PodPhase

__all__ = ["PodGroups", "group_pods", "remove_metrics_for_pods"]


@dataclass(frozen=True, slots=True)
class PodGroups:
    """How ``group_pods`` classified the pods.

    Attributes:
        ready_pod_count: Pods whose metric counts as is.
        unready_pods: Pending pods, and for CPU pods whose sample may be skewed by
            start-up or readiness.
        missing_pods: Pods without a metric sample.
        ignored_pods: Pods being deleted or failed.
    """

    ready_pod_count: int
    unready_pods: frozenset[str]
    missing_pods: frozenset[str]
    ignored_pods: frozenset[str]


def _cpu_sample_is_unready(
    pod: PodInfo,
    metric: PodMetric,
    now: float,
    cpu_initialization_period: float,
    delay_of_initial_readiness_status: float,
) -> bool:
    condition = pod.ready
    if condition is None or pod.start_time is None:
        return True
    if pod.start_time + cpu_initialization_period > now:
        # Still starting: skip the sample if the pod is unready, or if a full metric
        # window has not passed since it last changed readiness.
        return condition.status is False or (
            metric.timestamp < condition.last_transition_time + metric.window
        )
    # Past start-up: skip the sample only if the pod is unready and never was ready.
    return (
        condition.status is False
        and pod.start_time + delay_of_initial_readiness_status > condition.last_transition_time
    )


def group_pods(
    pods: Iterable[PodInfo],
    metrics: Mapping[str, PodMetric],
    resource: str | None,
    *,
    now: float,
    cpu_initialization_period: float,
    delay_of_initial_readiness_status: float,
) -> PodGroups:
    """Classify each pod, in upstream's order: ignored, pending, missing, CPU-unready, ready.

    Readiness (beyond ``Pending``) only matters when ``resource`` is ``"cpu"``,
    because only CPU usage is skewed by start-up.

    Args:
        pods: The pods the scale target's selector matches.
        metrics: Metric samples by pod name.
        resource: The resource name for Resource/ContainerResource metrics, else None.
        now: The current instant (epoch seconds).
        cpu_initialization_period: Seconds after start during which CPU samples are
            distrusted (upstream default 300).
        delay_of_initial_readiness_status: Seconds after start within which a first
            readiness transition still counts as start-up (upstream default 30).

    Returns:
        The classification.
    """
    ready_pod_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase is PodPhase.FAILED:
            ignored.add(pod.name)
            continue
        if pod.phase is PodPhase.PENDING:
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == CPU and _cpu_sample_is_unready(
            pod, metric, now, cpu_initialization_period, delay_of_initial_readiness_status
        ):
            unready.add(pod.name)
            continue
        ready_pod_count += 1
    return PodGroups(ready_pod_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def remove_metrics_for_pods(
    metrics: Mapping[str, PodMetric], pod_names: Iterable[str]
) -> dict[str, PodMetric]:
    """Return a copy of ``metrics`` without the samples of the named pods.

    Port of ``removeMetricsForPods``; returns a new dict instead of mutating.
    """
    dropped = set(pod_names)
    return {name: metric for name, metric in metrics.items() if name not in dropped}
