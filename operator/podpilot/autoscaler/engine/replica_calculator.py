"""Replica proposals for one metric (``replica_calculator.go``).

One function per upstream calculator method; each takes the data the metrics client
and the pod lister would have returned, and returns a ``ReplicaProposal``:

==============================================  ===========================================
function                                        upstream
==============================================  ===========================================
``resource_utilization_replicas``               ``GetResourceReplicas``
``plain_metric_replicas``                       ``calcPlainMetricReplicas`` (via
                                                ``GetRawResourceReplicas``, ``GetMetricReplicas``)
``object_metric_replicas``                      ``GetObjectMetricReplicas``
``object_per_pod_metric_replicas``              ``GetObjectPerPodMetricReplicas``
``external_metric_replicas``                    ``GetExternalMetricReplicas``
``external_per_pod_metric_replicas``            ``GetExternalPerPodMetricReplicas``
``usage_ratio_replica_count``                   ``getUsageRatioReplicaCount``
``ready_pods_count``                            ``getReadyPodsCount``
==============================================  ===========================================

Floating point and integer rounding follow upstream step by step (float64 ratios,
``math.ceil`` for proposals, truncating integer division for averages), so results
are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .errors import MetricComputationError, NoMetricsError, NoPodsError
from .model import (
    DEFAULT_CPU_INITIALIZATION_PERIOD,
    DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS,
    MAX_INT32,
    MAX_INT64,
    PodInfo,
    PodMetric,
    PodPhase,
    Tolerances,
)
from .pod_grouping import PodGroups, group_pods, remove_metrics_for_pods
from .requests import calculate_requests
from .utilization import metric_usage_ratio, resource_utilization_ratio

__all__ = [
    "CalculatorSettings",
    "ReplicaProposal",
    "external_metric_replicas",
    "external_per_pod_metric_replicas",
    "object_metric_replicas",
    "object_per_pod_metric_replicas",
    "plain_metric_replicas",
    "ready_pods_count",
    "resource_utilization_replicas",
    "usage_ratio_replica_count",
]


@dataclass(frozen=True, slots=True)
class CalculatorSettings:
    """Controller-wide settings of the calculator (the HPA controller's flags).

    Attributes:
        cpu_initialization_period: ``--horizontal-pod-autoscaler-cpu-initialization-period``
            in seconds.
        delay_of_initial_readiness_status: ``--horizontal-pod-autoscaler-initial-readiness-delay``
            in seconds.
        pod_level_resources: Whether the ``PodLevelResources`` feature gate is on.
    """

    cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD
    delay_of_initial_readiness_status: float = DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS
    pod_level_resources: bool = True


@dataclass(frozen=True, slots=True)
class ReplicaProposal:
    """What one metric proposes.

    Attributes:
        replicas: The proposed replica count.
        current_value: The value upstream writes to the metric's status, in milli-units:
            the raw average for Resource Utilization, the average for AverageValue
            targets, the (summed) value for Value targets, the per-pod value for
            Object/External AverageValue.
        current_utilization: The utilization percentage (Utilization targets only).
        usage_ratio: The first usage ratio (current / target).
        notes: Readable steps that led to the proposal.
        within_tolerance: The proposal is the current count only because the ratio it was
            computed from lies inside the tolerance band (podpilot's addition: the "why
            not scaling" reasons need it as a value, not as a note).
    """

    replicas: int
    current_value: int
    usage_ratio: float
    current_utilization: int | None = None
    notes: tuple[str, ...] = ()
    within_tolerance: bool = False


DEFAULT_TOLERANCES = Tolerances()
DEFAULT_SETTINGS = CalculatorSettings()


def _go_float_division(dividend: float, divisor: float) -> float:
    # Go float64 division by zero gives +-Inf or NaN instead of raising.
    if divisor != 0:
        return dividend / divisor
    if dividend == 0 or math.isnan(dividend):
        return math.nan
    return math.copysign(math.inf, dividend) * math.copysign(1.0, divisor)


def _group(
    pods: Sequence[PodInfo],
    metrics: Mapping[str, PodMetric],
    resource: str | None,
    now: float,
    settings: CalculatorSettings,
) -> tuple[PodGroups, dict[str, PodMetric]]:
    if not pods:
        raise NoPodsError("no pods returned by selector while calculating replica count")
    groups = group_pods(
        pods,
        metrics,
        resource,
        now=now,
        cpu_initialization_period=settings.cpu_initialization_period,
        delay_of_initial_readiness_status=settings.delay_of_initial_readiness_status,
    )
    kept = remove_metrics_for_pods(metrics, groups.ignored_pods | groups.unready_pods)
    if not kept:
        raise NoMetricsError("did not receive metrics for targeted pods (pods might be unready)")
    return groups, kept


def _describe_groups(groups: PodGroups) -> str:
    return (
        f"{groups.ready_pod_count} ready, {len(groups.unready_pods)} unready, "
        f"{len(groups.missing_pods)} missing, {len(groups.ignored_pods)} ignored pods"
    )


def _ready_pods_replicas(
    *,
    current_replicas: int,
    usage_ratio: float,
    ready_pod_count: int,
    tolerances: Tolerances,
    notes: list[str],
) -> tuple[int, bool]:
    """The path without rebalancing shared by resource and plain metrics (no pod missing,
    none unready on a scale-up): the ratio applied to the ready pods; and whether the
    tolerance kept the count."""
    if tolerances.is_within(usage_ratio):
        notes.append(f"within tolerance {tolerances.describe()}: keep {current_replicas}")
        return current_replicas, True
    replicas = math.ceil(usage_ratio * float(ready_pod_count))
    notes.append(f"ceil({usage_ratio:.4g} x {ready_pod_count} ready pods) = {replicas}")
    return replicas, False


def _rebalanced_replicas(
    *,
    current_replicas: int,
    usage_ratio: float,
    new_usage_ratio: float,
    entry_count: int,
    tolerances: Tolerances,
    notes: list[str],
) -> tuple[int, bool]:
    """The end of the rebalancing path shared by resource and plain metrics; and whether
    the tolerance kept the count."""
    direction_flipped = (usage_ratio < 1.0 < new_usage_ratio) or (
        usage_ratio > 1.0 > new_usage_ratio
    )
    if tolerances.is_within(new_usage_ratio) or direction_flipped:
        why = "would change scale direction" if direction_flipped else "is within tolerance"
        notes.append(f"rebalanced ratio {new_usage_ratio:.4g} {why}: keep {current_replicas}")
        return current_replicas, not direction_flipped
    new_replicas = math.ceil(new_usage_ratio * float(entry_count))
    if (new_usage_ratio < 1.0 and new_replicas > current_replicas) or (
        new_usage_ratio > 1.0 and new_replicas < current_replicas
    ):
        notes.append(
            f"ceil({new_usage_ratio:.4g} x {entry_count}) = {new_replicas} moves against the "
            f"ratio's direction (e.g. surge pods in a rolling update): keep {current_replicas}"
        )
        return current_replicas, False
    notes.append(
        f"ceil(rebalanced ratio {new_usage_ratio:.4g} x {entry_count} pods) = {new_replicas}"
    )
    return new_replicas, False


def _grouped_replicas(
    *,
    current_replicas: int,
    usage_ratio: float,
    groups: PodGroups,
    kept: Mapping[str, PodMetric],
    missing_scale_down_value: Callable[[str], int],
    missing_scale_down_note: str,
    zero: str,
    rebalanced_usage_ratio: Callable[[Mapping[str, PodMetric]], float],
    tolerances: Tolerances,
    notes: list[str],
) -> tuple[int, bool]:
    """The replica count shared by resource and plain metrics once the pods are grouped:
    the ratio applied to the ready pods, unless pods are missing or unready pods would
    dampen a scale-up; then the samples are rebalanced (missing pods at
    ``missing_scale_down_value`` on a scale-down and at 0 on a scale-up, unready pods at 0
    on a scale-up) and the ratio recomputed. ``zero`` is how the notes word 0."""
    scale_up_with_unready = bool(groups.unready_pods) and usage_ratio > 1.0
    if not scale_up_with_unready and not groups.missing_pods:
        return _ready_pods_replicas(
            current_replicas=current_replicas,
            usage_ratio=usage_ratio,
            ready_pod_count=groups.ready_pod_count,
            tolerances=tolerances,
            notes=notes,
        )

    rebalanced = dict(kept)
    if groups.missing_pods:
        if usage_ratio < 1.0:
            for name in groups.missing_pods:
                rebalanced[name] = PodMetric(missing_scale_down_value(name))
            notes.append(missing_scale_down_note)
        elif usage_ratio > 1.0:
            for name in groups.missing_pods:
                rebalanced[name] = PodMetric(0)
            notes.append(f"missing pods counted at {zero} (scale-up)")
    if scale_up_with_unready:
        for name in groups.unready_pods:
            rebalanced[name] = PodMetric(0)
        notes.append(f"unready pods counted at {zero} (scale-up)")

    return _rebalanced_replicas(
        current_replicas=current_replicas,
        usage_ratio=usage_ratio,
        new_usage_ratio=rebalanced_usage_ratio(rebalanced),
        entry_count=len(rebalanced),
        tolerances=tolerances,
        notes=notes,
    )


def resource_utilization_replicas(
    *,
    current_replicas: int,
    target_utilization: int,
    resource: str,
    pods: Sequence[PodInfo],
    metrics: Mapping[str, PodMetric],
    now: float,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    container: str = "",
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> ReplicaProposal:
    """Proposal for a Resource or ContainerResource metric with a Utilization target.

    Port of ``GetResourceReplicas``: group the pods, drop ignored and unready samples,
    compute utilization against requests, then either scale by the ready pod count or
    rebalance missing pods (at target on scale-down, at 0 on scale-up) and unready pods
    (at 0 on scale-up only), refusing to change direction.

    Args:
        current_replicas: ``scale.spec.replicas``.
        target_utilization: Target average utilization, percent of request.
        resource: Resource name, e.g. ``"cpu"``.
        pods: All pods the target's selector matches.
        metrics: Per-pod usage in milli-units (superfluous pod names allowed).
        now: The current instant (epoch seconds).
        tolerances: Per-direction tolerances.
        container: Container name for ContainerResource metrics, else ``""``.
        settings: Controller-wide calculator settings.

    Returns:
        The proposal; ``current_utilization`` and ``current_value`` come from the first
        ratio, before any rebalancing.

    Raises:
        MetricComputationError: When upstream would return an error.
    """
    if not metrics:
        raise NoMetricsError(
            f"unable to get metrics for resource {resource}: "
            "no metrics returned from resource metrics API"
        )
    groups, kept = _group(pods, metrics, resource, now, settings)
    requests = calculate_requests(
        pods, container, resource, pod_level_resources=settings.pod_level_resources
    )
    first = resource_utilization_ratio(kept, requests, target_utilization)
    usage_ratio = first.usage_ratio
    notes = [
        _describe_groups(groups),
        f"utilization {first.utilization}% of requests vs target {target_utilization}%: "
        f"ratio {usage_ratio:.4g}",
    ]

    # On a scale-down, missing pods count as using their whole request, or the target when
    # the target is above 100%.
    fallback_utilization = max(100, target_utilization)

    replicas, tolerated = _grouped_replicas(
        current_replicas=current_replicas,
        usage_ratio=usage_ratio,
        groups=groups,
        kept=kept,
        missing_scale_down_value=lambda name: requests[name] * fallback_utilization // 100,
        missing_scale_down_note=(
            f"missing pods counted at {fallback_utilization}% of request (scale-down)"
        ),
        zero="0%",
        rebalanced_usage_ratio=lambda rebalanced: (
            resource_utilization_ratio(rebalanced, requests, target_utilization).usage_ratio
        ),
        tolerances=tolerances,
        notes=notes,
    )
    return ReplicaProposal(
        replicas=replicas,
        current_value=first.raw_average,
        usage_ratio=usage_ratio,
        current_utilization=first.utilization,
        notes=tuple(notes),
        within_tolerance=tolerated,
    )


def plain_metric_replicas(
    *,
    current_replicas: int,
    target_usage: int,
    pods: Sequence[PodInfo],
    metrics: Mapping[str, PodMetric],
    now: float,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    resource: str | None = None,
    settings: CalculatorSettings = DEFAULT_SETTINGS,
) -> ReplicaProposal:
    """Proposal for an AverageValue target over per-pod samples.

    Port of ``calcPlainMetricReplicas``, used for Pods metrics (``resource=None``, so
    readiness beyond Pending is ignored) and for Resource/ContainerResource metrics
    with an AverageValue target (``resource`` set, so CPU readiness rules apply).
    Missing pods count at exactly the target on scale-down.

    Args:
        current_replicas: ``scale.spec.replicas``.
        target_usage: Target average value per pod, milli-units.
        pods: All pods the target's selector matches.
        metrics: Per-pod values in milli-units.
        now: The current instant (epoch seconds).
        tolerances: Per-direction tolerances.
        resource: The resource name for raw resource metrics, else None.
        settings: Controller-wide calculator settings.

    Raises:
        MetricComputationError: When upstream would return an error.
    """
    if not metrics:
        if resource is not None:
            raise NoMetricsError(
                f"unable to get metrics for resource {resource}: "
                "no metrics returned from resource metrics API"
            )
        raise NoMetricsError("unable to get metric: no metrics returned from custom metrics API")
    groups, kept = _group(pods, metrics, resource, now, settings)
    usage_ratio, usage = metric_usage_ratio(kept, target_usage)
    notes = [
        _describe_groups(groups),
        f"average {usage}m vs target {target_usage}m: ratio {usage_ratio:.4g}",
    ]

    replicas, tolerated = _grouped_replicas(
        current_replicas=current_replicas,
        usage_ratio=usage_ratio,
        groups=groups,
        kept=kept,
        missing_scale_down_value=lambda _: target_usage,
        missing_scale_down_note="missing pods counted at the target (scale-down)",
        zero="0",
        rebalanced_usage_ratio=lambda rebalanced: metric_usage_ratio(rebalanced, target_usage)[0],
        tolerances=tolerances,
        notes=notes,
    )
    return ReplicaProposal(
        replicas=replicas,
        current_value=usage,
        usage_ratio=usage_ratio,
        notes=tuple(notes),
        within_tolerance=tolerated,
    )


def ready_pods_count(pods: Sequence[PodInfo]) -> int:
    """Count pods that are Running with Ready=True (``getReadyPodsCount``).

    Raises:
        NoPodsError: If ``pods`` is empty.
    """
    if not pods:
        raise NoPodsError("no pods returned by selector while calculating replica count")
    return sum(
        1
        for pod in pods
        if pod.phase is PodPhase.RUNNING and pod.ready is not None and pod.ready.status is True
    )


def usage_ratio_replica_count(
    *,
    current_replicas: int,
    usage_ratio: float,
    pods: Sequence[PodInfo],
    tolerances: Tolerances,
    notes: list[str],
) -> int:
    """Replicas for a whole-target ratio (``getUsageRatioReplicaCount``).

    With ``current_replicas == 0`` (scale from zero) the result is ``ceil(ratio)``,
    with no tolerance and no pod count. Otherwise the ratio is applied to the number
    of Running and Ready pods, saturating at MaxInt32.

    Raises:
        MetricComputationError: If pods are needed but there are none.
    """
    if current_replicas == 0:
        replicas = math.ceil(usage_ratio)
        notes.append(f"scaling from zero: ceil(ratio {usage_ratio:.4g}) = {replicas}")
        return replicas
    if tolerances.is_within(usage_ratio):
        notes.append(f"within tolerance {tolerances.describe()}: keep {current_replicas}")
        return current_replicas
    try:
        ready = ready_pods_count(pods)
    except NoPodsError as error:
        raise MetricComputationError(f"unable to calculate ready pods: {error}") from error
    product = usage_ratio * float(ready)
    if product > MAX_INT32:
        notes.append(f"ratio {usage_ratio:.4g} x {ready} ready pods exceeds MaxInt32")
        return MAX_INT32
    replicas = math.ceil(product)
    notes.append(f"ceil({usage_ratio:.4g} x {ready} running and ready pods) = {replicas}")
    return replicas


def object_metric_replicas(
    *,
    current_replicas: int,
    target_value: int,
    value: int,
    pods: Sequence[PodInfo],
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> ReplicaProposal:
    """Proposal for an Object metric with a Value target (``GetObjectMetricReplicas``).

    Args:
        current_replicas: ``scale.spec.replicas``.
        target_value: Target value, milli-units.
        value: The object's metric value, milli-units.
        pods: The pods of the scale target (only Running and Ready ones are counted).
        tolerances: Per-direction tolerances.
    """
    return _value_target_replicas(
        current_replicas, target_value, value, f"value {value}m", pods, tolerances
    )


def _value_target_replicas(
    current_replicas: int,
    target_value: int,
    usage: int,
    described: str,
    pods: Sequence[PodInfo],
    tolerances: Tolerances,
) -> ReplicaProposal:
    """Object and External Value targets alike: ``usage / target`` as a whole-target ratio."""
    usage_ratio = float(usage) / float(target_value)
    notes = [f"{described} vs target {target_value}m: ratio {usage_ratio:.4g}"]
    replicas = usage_ratio_replica_count(
        current_replicas=current_replicas,
        usage_ratio=usage_ratio,
        pods=pods,
        tolerances=tolerances,
        notes=notes,
    )
    # usage_ratio_replica_count applies the tolerance only above zero replicas.
    tolerated = current_replicas != 0 and tolerances.is_within(usage_ratio)
    return ReplicaProposal(
        replicas, usage, usage_ratio, notes=tuple(notes), within_tolerance=tolerated
    )


def object_per_pod_metric_replicas(
    *,
    status_replicas: int,
    target_average_value: int,
    value: int,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> ReplicaProposal:
    """Proposal for an Object metric with an AverageValue target.

    Port of ``GetObjectPerPodMetricReplicas``: the ratio is
    ``value / (target x status replicas)``; outside tolerance the proposal is
    ``ceil(value / target)``.

    Args:
        status_replicas: ``scale.status.replicas`` (not spec replicas).
        target_average_value: Target value per pod, milli-units.
        value: The object's metric value, milli-units.
        tolerances: Per-direction tolerances.
    """
    return _average_value_target_replicas(
        status_replicas,
        target_average_value,
        value,
        f"value {value}m",
        tolerances,
        saturating=False,
    )


def _average_value_target_replicas(
    status_replicas: int,
    target_average_value: int,
    usage: int,
    described: str,
    tolerances: Tolerances,
    *,
    saturating: bool,
) -> ReplicaProposal:
    """Object and External AverageValue targets alike: ``usage / (target x status replicas)``
    as the ratio, ``ceil(usage / target)`` outside tolerance. ``saturating`` (External, as
    upstream) caps the proposal at MaxInt32 and the per-pod value at MaxInt64."""
    usage_ratio = _go_float_division(
        float(usage), float(target_average_value) * float(status_replicas)
    )
    notes = [
        f"{described} vs target {target_average_value}m x {status_replicas} pods: "
        f"ratio {usage_ratio:.4g}"
    ]
    replicas = status_replicas
    tolerated = tolerances.is_within(usage_ratio)
    if tolerated:
        notes.append(f"within tolerance {tolerances.describe()}: keep {status_replicas}")
    else:
        result = math.ceil(float(usage) / float(target_average_value))
        replicas = MAX_INT32 if saturating and result > MAX_INT32 else result
        capped = " (capped at MaxInt32)" if replicas != result else ""
        notes.append(f"ceil({usage}m / {target_average_value}m) = {result}{capped}")
    if saturating and float(usage) >= float(MAX_INT64):
        per_pod = MAX_INT64
    elif status_replicas == 0:
        per_pod = usage
    else:
        per_pod = math.ceil(float(usage) / float(status_replicas))
    return ReplicaProposal(
        replicas, per_pod, usage_ratio, notes=tuple(notes), within_tolerance=tolerated
    )


_NO_EXTERNAL_METRICS = (
    "unable to get external metric: no metrics returned from external metrics API"
)


def _saturating_sum(values: Sequence[int]) -> int:
    # Upstream stops at MaxInt64 on positive overflow instead of wrapping.
    total = 0
    for item in values:
        if item > 0 and total > MAX_INT64 - item:
            return MAX_INT64
        total += item
    return total


def external_metric_replicas(
    *,
    current_replicas: int,
    target_value: int,
    values: Sequence[int],
    pods: Sequence[PodInfo],
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> ReplicaProposal:
    """Proposal for an External metric with a Value target (``GetExternalMetricReplicas``).

    The series are summed (saturating at MaxInt64), then treated like an Object Value.

    Args:
        current_replicas: ``scale.spec.replicas``.
        target_value: Target value, milli-units.
        values: Every series the selector returned, milli-units.
        pods: The pods of the scale target (only Running and Ready ones are counted).
        tolerances: Per-direction tolerances.

    Raises:
        MetricComputationError: If ``values`` is empty or pods are needed but absent.
    """
    if not values:
        raise NoMetricsError(_NO_EXTERNAL_METRICS)
    usage = _saturating_sum(values)
    return _value_target_replicas(
        current_replicas,
        target_value,
        usage,
        f"sum of {len(values)} series {usage}m",
        pods,
        tolerances,
    )


def external_per_pod_metric_replicas(
    *,
    status_replicas: int,
    target_average_value: int,
    values: Sequence[int],
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> ReplicaProposal:
    """Proposal for an External metric with an AverageValue target.

    Port of ``GetExternalPerPodMetricReplicas``: the summed series (saturating at
    MaxInt64) divided by ``target x status replicas``; outside tolerance the proposal
    is ``ceil(sum / target)``, capped at MaxInt32.

    Args:
        status_replicas: ``scale.status.replicas``.
        target_average_value: Target value per pod, milli-units.
        values: Every series the selector returned, milli-units.
        tolerances: Per-direction tolerances.

    Raises:
        MetricComputationError: If ``values`` is empty.
    """
    if not values:
        raise NoMetricsError(_NO_EXTERNAL_METRICS)
    usage = _saturating_sum(values)
    return _average_value_target_replicas(
        status_replicas,
        target_average_value,
        usage,
        f"sum of {len(values)} series {usage}m",
        tolerances,
        saturating=True,
    )
