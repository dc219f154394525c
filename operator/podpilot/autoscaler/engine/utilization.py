"""Usage ratios over pod metrics (``metrics/utilization.go``), and per-pod sums.

Port of ``GetResourceUtilizationRatio`` and ``GetMetricUsageRatio``, plus the
container-to-pod reduction that ``metrics/client.go`` does before them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import NoMetricsError
from .model import PodMetric

__all__ = [
    "ResourceUtilization",
    "metric_usage_ratio",
    "pod_usage_from_containers",
    "resource_utilization_ratio",
    "truncating_division",
]


def truncating_division(dividend: int, divisor: int) -> int:
    """Integer division that truncates toward zero, as Go's ``/`` on integers does."""
    quotient = abs(dividend) // abs(divisor)
    return quotient if (dividend >= 0) == (divisor > 0) else -quotient


@dataclass(frozen=True, slots=True)
class ResourceUtilization:
    """Result of ``resource_utilization_ratio``.

    Attributes:
        usage_ratio: Truncated utilization percentage divided by the target.
        utilization: ``sum(usage) * 100 / sum(requests)``, truncated (a percentage).
        raw_average: ``sum(usage) / counted pods``, truncated, in milli-units.
    """

    usage_ratio: float
    utilization: int
    raw_average: int


def resource_utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target_utilization: int
) -> ResourceUtilization:
    """Ratio of summed usage to summed requests, against a utilization target.

    Samples of pods without a request entry are skipped. The ratio is a ratio of sums,
    computed from the integer-truncated percentage, exactly as upstream does.

    Raises:
        NoMetricsError: If no sample belongs to a pod with a request (or all requests are 0).
    """
    metrics_total = 0
    requests_total = 0
    counted = 0
    for pod_name, metric in metrics.items():
        request = requests.get(pod_name)
        if request is None:
            continue
        metrics_total += metric.value
        requests_total += request
        counted += 1
    if requests_total == 0:
        raise NoMetricsError("no metrics returned matched known pods")
    utilization = truncating_division(metrics_total * 100, requests_total)
    return ResourceUtilization(
        usage_ratio=float(utilization) / float(target_utilization),
        utilization=utilization,
        raw_average=truncating_division(metrics_total, counted),
    )


def metric_usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """Average of all samples (truncated) and its ratio to ``target_usage``.

    Every entry counts, including samples of pods not in the pod list.

    Returns:
        ``(usage_ratio, average_usage)``.
    """
    total = sum(metric.value for metric in metrics.values())
    average = truncating_division(total, len(metrics))
    return float(average) / float(target_usage), average


def pod_usage_from_containers(
    container_usages: Sequence[tuple[str, Mapping[str, int]]], resource: str, container: str = ""
) -> int | None:
    """Reduce one pod's container metrics to the pod's value, as the metrics client does.

    Args:
        container_usages: ``(container name, {resource: milli-units})`` per container,
            as ``metrics.k8s.io`` ``PodMetrics.containers`` lists them.
        resource: The resource name.
        container: A container name for ContainerResource metrics, else ``""``.

    Returns:
        The pod's usage in milli-units, or None when the pod must count as missing:
        no containers, any container lacking the resource (whole pod), or the named
        container absent or lacking the resource.
    """
    if container:
        for name, usage in container_usages:
            if name == container:
                return usage.get(resource)
        return None
    if not container_usages:
        return None
    total = 0
    for _, usage in container_usages:
        if resource not in usage:
            return None
        total += usage[resource]
    return total
