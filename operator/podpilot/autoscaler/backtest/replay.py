"""Replay an Autoscaler over a recorded trace: the controller's own decision, step by step. Pure.

Each step is one evaluation, as ``controller.evaluator.evaluate`` runs it: the observations
are built from the trace (instead of the watches and metrics APIs), ``policy.plan.decide``
decides with the ``Memory`` the previous step left, and a planned rescale is taken at once
(``plan.rescaled``), so the next step starts from the new count. Everything the HPA does on
top of the proposals (tolerance, stabilization windows, behavior policies, min and max, the
fallback, activation) therefore comes from the same code the operator runs.

What history cannot say is what the pods of a different replica count would have used. The
replay assumes the load is conserved: at a step where the simulated count equals the number
of pods recorded, the recorded pods are replayed as they were (a pod without a sample is a
missing pod to the engine, as it was to the HPA); otherwise the load of the recorded pods
(their mean usage times their number) is spread evenly over the simulated count, each
simulated pod requesting the recorded pods' mean request. Simulated pods are ready at once:
start-up time is not modelled. A PromQL query's value is taken as recorded (a query whose
value depends on the replica count is not rescaled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from podpilot.autoscaler.api.metric_types import METRIC_TYPES
from podpilot.autoscaler.api.proposals import utilization_or_average_value, value_or_average_value
from podpilot.autoscaler.api.result import Action, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, MetricSpec, Mode
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    ContainerSpec,
    MetricComputationError,
    MetricOutcome,
    PodInfo,
    PodMetric,
    ReadyCondition,
    Tolerances,
    external_metric_replicas,
    external_per_pod_metric_replicas,
    tolerances_for,
)
from podpilot.autoscaler.policy.plan import (
    Memory,
    Observations,
    decide,
    metrics_to_read,
    rescaled,
)
from podpilot.settings import HpaSettings

from .trace import PodSeries, ResourceKey, Trace

REPLAYED_TYPES = ("Resource", "ContainerResource", "Prometheus")
SELECTOR = "podpilot.io/backtest=true"  # any valid selector: pods come from the trace
_LONG_AGO = 86400.0  # simulated pods started and became ready this long before each step
_CONTAINER = "app"
DEFAULT_SETTINGS = HpaSettings()


class BacktestError(ValueError):
    """A spec or trace that cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Step:
    """One evaluation of the replay.

    ``replicas`` is the simulated count the evaluation found, ``desired`` the count it left
    (the next step's ``replicas``). ``ratios`` holds, per spec metric, the usage ratio to its
    target at the simulated count (None when the metric failed); ``actual_ratios`` the same at
    the recorded count. ``loads`` and ``actual_loads``: the fraction of requests used, for
    Resource metrics, else the ratio itself.
    """

    time: float
    actual: int | None
    replicas: int
    desired: int
    action: Action
    ratios: tuple[float | None, ...]
    actual_ratios: tuple[float | None, ...]
    loads: tuple[float | None, ...]
    actual_loads: tuple[float | None, ...]


@dataclass(frozen=True)
class Replay:
    """A spec's replay: its name (for tables and legends) and one ``Step`` per trace step."""

    name: str
    spec: AutoscalerSpec
    steps: tuple[Step, ...]
    step_seconds: float
    scale_up_tolerance: float = 0.0  # the spec's, or the cluster's default: the summary's band

    @property
    def replicas(self) -> tuple[int, ...]:
        return tuple(step.replicas for step in self.steps)


def check_replayable(spec: AutoscalerSpec) -> None:
    """Raise ``BacktestError`` for a metric type history cannot be replayed for."""
    for index, metric in enumerate(spec.metrics):
        if metric.type not in REPLAYED_TYPES:
            raise BacktestError(
                f"spec.metrics[{index}] is of type {metric.type}; a backtest replays "
                f"{', '.join(REPLAYED_TYPES)} metrics only"
            )


def replay(
    spec: AutoscalerSpec,
    trace: Trace,
    *,
    name: str = "",
    settings: HpaSettings = DEFAULT_SETTINGS,
    start_replicas: int | None = None,
    judge_actual: bool = True,
) -> Replay:
    """Replay ``spec`` over ``trace``. The spec is replayed as Active and unpaused (a DryRun
    or paused Autoscaler would never move); the count starts at the first recorded one.
    ``judge_actual``: also compute the recorded count's ratios and loads against this spec
    (``recommend``'s candidates skip it: half the work, and only the original's is shown)."""
    check_replayable(spec)
    if not trace.times:
        raise BacktestError("the trace has no step: widen --from/--to or lower --step")
    spec = dataclasses.replace(spec, mode=Mode.ACTIVE, paused=False)
    current = start_replicas if start_replicas is not None else _first_count(spec, trace)
    memory = Memory(None)
    steps: list[Step] = []
    for index, now in enumerate(trace.times):
        observations = observe(spec, trace, index, current, settings)
        plan = decide(spec, observations, memory, settings.downscale_stabilization)
        result = rescaled(plan, spec.behavior) if plan.patch else plan.result
        memory = Memory.after(result)
        desired = result.desired_replicas if plan.patch else current
        actual = trace.replicas[index]
        loads = _loads(spec, trace, index, current, observations.metrics)
        judged = judge_actual and actual is not None
        actual_metrics = (
            observe(spec, trace, index, actual, settings).metrics
            if judge_actual and actual is not None
            else ()
        )
        steps.append(
            Step(
                time=now,
                actual=actual,
                replicas=current,
                desired=desired,
                action=result.action,
                ratios=_ratios(spec, observations.metrics),
                actual_ratios=_ratios(spec, actual_metrics),
                loads=loads,
                actual_loads=(
                    _loads(spec, trace, index, actual, actual_metrics)
                    if judged and actual is not None
                    else (None,) * len(spec.metrics)
                ),
            )
        )
        current = desired
    return Replay(
        name or f"{spec.target.kind}/{spec.target.name}",
        spec,
        tuple(steps),
        trace.step,
        tolerances_for(spec.behavior, settings.tolerance).scale_up,
    )


def _first_count(spec: AutoscalerSpec, trace: Trace) -> int:
    known = next((count for count in trace.replicas if count is not None), None)
    return known if known is not None else max(spec.min_replicas, 1)


def observe(
    spec: AutoscalerSpec, trace: Trace, index: int, replicas: int, settings: HpaSettings
) -> Observations:
    """What ``controller.evaluator.read`` would have found at step ``index`` had the target
    run ``replicas`` pods: the count, a valid selector and one result per metric read (none
    when scaling is disabled, zero replicas while ``minReplicas`` is not 0, as ``read``; only
    those that can wake the workload at zero, or where the recorded workload was at zero)."""
    now = trace.times[index]
    reference = f"{spec.target.kind}/{spec.target.name}"
    if replicas == 0 and spec.min_replicas != 0:
        return Observations(now, reference, 0, SELECTOR)
    tolerances = tolerances_for(spec.behavior, settings.tolerance)
    calculator = CalculatorSettings(
        cpu_initialization_period=settings.cpu_initialization_period,
        delay_of_initial_readiness_status=settings.initial_readiness_delay,
    )
    # Where the recorded workload slept (minReplicas 0) there is no per-pod load to replay:
    # its per-pod metrics are left unread, as at zero, not failed (which would hold the count).
    slept = spec.min_replicas == 0 and trace.replicas[index] == 0
    metrics = tuple(
        metric_result(metric, trace, index, replicas, tolerances, calculator)
        for metric in metrics_to_read(spec, 0 if slept else replicas)
    )
    return Observations(now, reference, replicas, SELECTOR, metrics=metrics)


def metric_result(
    metric: MetricSpec,
    trace: Trace,
    index: int,
    replicas: int,
    tolerances: Tolerances,
    settings: CalculatorSettings,
) -> MetricResult:
    """One spec metric at step ``index`` with ``replicas`` pods, as its reader in
    ``sources/`` would compute it; a missing value fails as an unanswered read does."""
    now = trace.times[index]
    try:
        if metric.type == "Prometheus":
            assert metric.prometheus is not None
            values = trace.queries.get(metric.prometheus.query)
            value = values[index] if values is not None else None
            if value is None:
                return _failed(metric, "the query returned no value at this step")
            pods = _simulated_pods(replicas, now, {}, metric.container)
            proposal, _, total = value_or_average_value(
                metric,
                value,
                current_replicas=replicas,
                status_replicas=replicas,
                pods=pods,
                tolerances=tolerances,
                value_replicas=partial(external_metric_replicas, values=(value,)),
                average_value_replicas=partial(external_per_pod_metric_replicas, values=(value,)),
            )
            return MetricResult(metric, MetricOutcome(metric.display_name, proposal), value=total)
        series = trace.resources.get(ResourceKey(metric.resource, metric.container))
        pods, samples = _pods_at(series, index, replicas, now, metric)
        if not samples:
            return _failed(metric, f"no metrics returned for resource {metric.resource}")
        proposal, _, _ = utilization_or_average_value(
            metric,
            samples,
            current_replicas=replicas,
            pods=pods,
            now=now,
            tolerances=tolerances,
            settings=settings,
        )
    except MetricComputationError as error:
        return _failed(metric, str(error))
    return MetricResult(metric, MetricOutcome(metric.display_name, proposal))


def _failed(metric: MetricSpec, message: str) -> MetricResult:
    outcome = MetricOutcome.failed(
        metric.display_name,
        METRIC_TYPES[metric.type].failure_reason,
        f"failed to get {metric.display_name}: {message}",
    )
    return MetricResult(metric, outcome)


def _pods_at(
    series: PodSeries | None, index: int, replicas: int, now: float, metric: MetricSpec
) -> tuple[list[PodInfo], dict[str, PodMetric]]:
    """The pods and samples of ``replicas`` pods at step ``index`` (see the module docstring)."""
    if series is None or replicas <= 0:
        return [], {}
    usage, requests = series.usage[index], series.requests[index]
    recorded = sorted(set(usage) | set(requests))
    if not usage or (not requests and metric.target.type == "Utilization"):
        return [], {}  # AverageValue, as the HPA's, needs no requests
    if len(recorded) == replicas:
        pods = [
            _pod(name, now, _request_of(requests, name, metric.resource), metric.container)
            for name in recorded
        ]
        samples = {name: PodMetric(value, now) for name, value in usage.items()}
        return pods, samples
    load = sum(usage.values()) / len(usage) * len(recorded)
    request = round(sum(requests.values()) / len(requests)) if requests else 0
    pods = _simulated_pods(replicas, now, {metric.resource: request}, metric.container)
    each = round(load / replicas)
    return pods, {pod.name: PodMetric(each, now) for pod in pods}


def _request_of(requests: Mapping[str, int], name: str, resource: str) -> dict[str, int]:
    return {resource: requests[name]} if name in requests else {}


def _simulated_pods(
    count: int, now: float, requests: Mapping[str, int], container: str
) -> list[PodInfo]:
    return [_pod(f"simulated-{i}", now, requests, container) for i in range(count)]


def _pod(name: str, now: float, requests: Mapping[str, int], container: str) -> PodInfo:
    return PodInfo(
        name=name,
        start_time=now - _LONG_AGO,
        ready=ReadyCondition(True, now - _LONG_AGO),
        containers=(ContainerSpec(container or _CONTAINER, dict(requests)),),
    )


def _ratios(spec: AutoscalerSpec, metrics: Sequence[MetricResult]) -> tuple[float | None, ...]:
    """Per spec metric, its usage ratio; None where it failed or was not read (at zero
    replicas only the metrics that can wake the workload are)."""
    proposals = {result.spec.index: result.outcome.proposal for result in metrics}
    ratios: list[float | None] = []
    for metric in spec.metrics:
        proposal = proposals.get(metric.index)
        ratios.append(None if proposal is None else proposal.usage_ratio)
    return tuple(ratios)


def _loads(
    spec: AutoscalerSpec,
    trace: Trace,
    index: int,
    replicas: int,
    metrics: Sequence[MetricResult],
) -> tuple[float | None, ...]:
    """Per metric: the fraction of requests used at ``replicas`` pods (Resource metrics),
    else the usage ratio to the target."""
    ratios = _ratios(spec, metrics)
    loads: list[float | None] = []
    for metric, ratio in zip(spec.metrics, ratios, strict=True):
        if metric.type == "Prometheus" or ratio is None:
            loads.append(ratio)
            continue
        series = trace.resources.get(ResourceKey(metric.resource, metric.container))
        loads.append(_utilization(series, index, replicas))
    return tuple(loads)


def _utilization(series: PodSeries | None, index: int, replicas: int) -> float | None:
    """Usage over requests had the recorded load run on ``replicas`` pods."""
    if series is None or replicas <= 0:
        return None
    usage, requests = series.usage[index], series.requests[index]
    if not usage or not requests:
        return None
    recorded = len(set(usage) | set(requests))
    load = sum(usage.values()) / len(usage) * recorded
    request = sum(requests.values()) / len(requests)
    return load / (request * replicas) if request else None


__all__ = [
    "REPLAYED_TYPES",
    "BacktestError",
    "Replay",
    "Step",
    "check_replayable",
    "metric_result",
    "observe",
    "replay",
]
