"""Replay an Autoscaler over a recorded trace: the controller's own decision, step by step. Pure.

Each step is one evaluation, as ``controller.evaluator.evaluate`` runs it: the observations
are built from the trace (instead of the watches and metrics APIs), ``policy.plan.decide``
decides with the ``Memory`` the previous step left, and a planned rescale is taken at once
(``plan.rescaled``), so the next step starts from the new count. Everything the HPA does on
top of the proposals (tolerance, stabilization windows, behavior policies, min and max, the
fallback, activation) therefore comes from the same code the operator runs.

The recorded pods of a step are grouped by the engine's own ``group_pods`` (upstream's
``groupPods``), each with the phase the history recorded (Running where it recorded none): a
Pending pod is unready (left out on a scale-down, at 0 on a scale-up), a Failed one ignored,
and a pod of another phase without a sample is missing. Readiness is not in the history read:
every pod is replayed as Ready since long before, so the CPU initialization period and the
readiness delay never make a Running pod unready.

What history cannot say is what the pods of a different replica count would have used. The
replay assumes the load is conserved: at a step where the simulated count equals the number
of recorded pods the HPA would have counted (all but the ignored ones), the recorded pods are
replayed as they were; otherwise the load of the recorded pods that ran (their mean usage
times the number of ready and missing pods: a Pending pod carries none) is spread evenly over
the simulated count, each simulated pod requesting the counted pods' mean request. Simulated
pods are running and ready at once: start-up time is not modelled. A PromQL query's value is
taken as recorded (a query whose value depends on the replica count is not rescaled).

Nothing the Autoscaler remembers from before the first step is in the history read (the HPA
keeps it in memory), so the replay starts with an empty ``Memory``, as the HPA starts when it
first sees an autoscaler (a restarted kube-controller-manager): the stabilization windows hold
one recommendation, the starting count at the first step; no earlier scale event limits the
behavior policies; ``cooldownSeconds`` and the fallback's failing streak count from the first
step. For ``cold_start_seconds`` from the start the replay can therefore decide otherwise than
an Autoscaler that had been running (hold a scale-down the earlier recommendations would not
have held, or allow a step the earlier scale events would have limited).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from podpilot.autoscaler.api.metric_types import METRIC_TYPES, History
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
    PodPhase,
    ReadyCondition,
    Tolerances,
    external_metric_replicas,
    external_per_pod_metric_replicas,
    tolerances_for,
)
from podpilot.autoscaler.engine.behavior import (
    generate_scale_down_rules,
    generate_scale_up_rules,
    longest_policy_period,
)
from podpilot.autoscaler.engine.pod_grouping import (
    PodGroups,
    group_pods,
    remove_metrics_for_pods,
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

REPLAYED_TYPES = tuple(name for name, kind in METRIC_TYPES.items() if kind.history is not None)
SELECTOR = "podpilot.io/backtest=true"  # any valid selector: pods come from the trace
_LONG_AGO = 86400.0  # simulated pods started and became ready this long before each step
_CONTAINER = "app"
DEFAULT_SETTINGS = HpaSettings()


class BacktestError(ValueError):
    """A spec or trace that cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Step:
    """One evaluation of the replay.

    ``seconds`` is how long the step's counts hold inside the window (until the next step,
    the last one until the window's end). ``replicas`` is the simulated count the evaluation
    found, ``desired`` the count it left (the next step's ``replicas``). ``ratios`` holds, per
    spec metric, the usage ratio to its target at the simulated count (None when the metric
    failed); ``actual_ratios`` the same at the recorded count. ``loads`` and
    ``actual_loads``: the fraction of requests used, for Resource metrics, else the ratio
    itself.
    """

    time: float
    seconds: float
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
        if metric.history is None:
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
    recorded: RecordedPods | None = None,
) -> Replay:
    """Replay ``spec`` over ``trace``. The spec is replayed as Active and unpaused (a DryRun
    or paused Autoscaler would never move); the count starts at the first recorded one.
    ``judge_actual``: also compute the recorded count's ratios and loads against this spec
    (``recommend``'s candidates skip it: half the work, and only the original's is shown).
    ``recorded``: the trace's grouped pods, shared with other replays of it (made here when
    not given, or when given for another trace or settings)."""
    check_replayable(spec)
    if not trace.times:
        raise BacktestError("the trace has no step: widen --from/--to or lower --step")
    spec = dataclasses.replace(spec, mode=Mode.ACTIVE, paused=False)
    current = start_replicas if start_replicas is not None else _first_count(spec, trace)
    if recorded is None or not recorded.fits(trace, settings):
        recorded = RecordedPods(trace, settings)
    durations = trace.durations()
    memory = Memory(None)  # nothing before the window is known (see the module docstring)
    steps: list[Step] = []
    for index, now in enumerate(trace.times):
        observations = observe(spec, trace, index, current, settings, recorded)
        plan = decide(spec, observations, memory, settings.downscale_stabilization)
        result = rescaled(plan, spec.behavior) if plan.patch else plan.result
        memory = Memory.after(result)
        desired = result.desired_replicas if plan.patch else current
        actual = trace.replicas[index]
        loads = _loads(spec, recorded, index, current, observations.metrics)
        judged = judge_actual and actual is not None
        actual_metrics = (
            observe(spec, trace, index, actual, settings, recorded).metrics
            if judge_actual and actual is not None
            else ()
        )
        steps.append(
            Step(
                time=now,
                seconds=durations[index],
                actual=actual,
                replicas=current,
                desired=desired,
                action=result.action,
                ratios=_ratios(spec, observations.metrics),
                actual_ratios=_ratios(spec, actual_metrics),
                loads=loads,
                actual_loads=(
                    _loads(spec, recorded, index, actual, actual_metrics)
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


def cold_start_seconds(spec: AutoscalerSpec, settings: HpaSettings = DEFAULT_SETTINGS) -> float:
    """How far back an evaluation of ``spec`` reads its memory of earlier evaluations: the
    longest of its stabilization windows and its behavior policies' periods. The replay starts
    without the memory of evaluations before its first step, so this long from the start it
    can decide otherwise than an Autoscaler that had been running."""
    if spec.behavior is None:
        return float(settings.downscale_stabilization)  # the legacy path: one window, no policy
    up = generate_scale_up_rules(spec.behavior.scale_up)
    down = generate_scale_down_rules(spec.behavior.scale_down)
    down_window = down.stabilization_window_seconds
    return float(
        max(
            up.stabilization_window_seconds or 0,
            settings.downscale_stabilization if down_window is None else down_window,
            longest_policy_period(up),
            longest_policy_period(down),
        )
    )


def _calculator_settings(settings: HpaSettings) -> CalculatorSettings:
    return CalculatorSettings(
        cpu_initialization_period=settings.cpu_initialization_period,
        delay_of_initial_readiness_status=settings.initial_readiness_delay,
    )


def _first_count(spec: AutoscalerSpec, trace: Trace) -> int:
    known = next((count for count in trace.replicas if count is not None), None)
    return known if known is not None else max(spec.min_replicas, 1)


def observe(
    spec: AutoscalerSpec,
    trace: Trace,
    index: int,
    replicas: int,
    settings: HpaSettings,
    recorded: RecordedPods | None = None,
) -> Observations:
    """What ``controller.evaluator.read`` would have found at step ``index`` had the target
    run ``replicas`` pods: the count, a valid selector and one result per metric read (none
    when scaling is disabled, zero replicas while ``minReplicas`` is not 0, as ``read``; only
    those that can wake the workload at zero, or where the recorded workload was at zero)."""
    if recorded is None or not recorded.fits(trace, settings):
        recorded = RecordedPods(trace, settings)
    now = trace.times[index]
    reference = f"{spec.target.kind}/{spec.target.name}"
    if replicas == 0 and spec.min_replicas != 0:
        return Observations(now, reference, 0, SELECTOR)
    tolerances = tolerances_for(spec.behavior, settings.tolerance)
    # Where the recorded workload slept (minReplicas 0) there is no per-pod load to replay:
    # its per-pod metrics are left unread, as at zero, not failed (which would hold the count).
    slept = spec.min_replicas == 0 and trace.replicas[index] == 0
    metrics = tuple(
        metric_result(metric, recorded, index, replicas, tolerances)
        for metric in metrics_to_read(spec, 0 if slept else replicas)
    )
    return Observations(now, reference, replicas, SELECTOR, metrics=metrics)


def metric_result(
    metric: MetricSpec,
    recorded: RecordedPods,
    index: int,
    replicas: int,
    tolerances: Tolerances,
) -> MetricResult:
    """One spec metric at step ``index`` with ``replicas`` pods, as its reader in
    ``sources/`` would compute it; a missing value fails as an unanswered read does."""
    trace = recorded.trace
    now = trace.times[index]
    try:
        if metric.history is History.QUERY:
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
        pods, samples = _pods_at(recorded, index, replicas, metric)
        if not samples:
            return _failed(metric, f"no metrics returned for resource {metric.resource}")
        proposal, _, _ = utilization_or_average_value(
            metric,
            samples,
            current_replicas=replicas,
            pods=pods,
            now=now,
            tolerances=tolerances,
            settings=recorded.settings,
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


@dataclass(frozen=True)
class _GroupedStep:
    """One resource's recorded pods at one step, grouped as the HPA's ``groupPods`` groups
    the pods its selector lists (the engine's own ``group_pods``)."""

    pods: tuple[PodInfo, ...]
    samples: Mapping[str, PodMetric]
    requests: Mapping[str, int]
    groups: PodGroups

    @property
    def counted(self) -> int:
        """The pods the HPA counts as the workload's: all but the ignored (Failed) ones."""
        return len(self.pods) - len(self.groups.ignored_pods)

    def load(self) -> float | None:
        """The usage of the pods that ran: the ready pods' mean usage times the ready and
        missing pods (a missing pod ran without a sample; an unready, Pending, pod used
        nothing). None without a ready pod's sample."""
        ready = remove_metrics_for_pods(
            self.samples, self.groups.unready_pods | self.groups.ignored_pods
        )
        if not ready:
            return None
        running = self.groups.ready_pod_count + len(self.groups.missing_pods)
        return sum(sample.value for sample in ready.values()) / len(ready) * running

    def mean_request(self) -> float | None:
        """The counted pods' mean request, None when none of them has one."""
        counted = [
            request
            for name, request in self.requests.items()
            if name not in self.groups.ignored_pods
        ]
        return sum(counted) / len(counted) if counted else None


class RecordedPods:
    """The recorded pods of a trace, grouped per resource and step on first use. The grouping
    depends on neither the spec nor the replayed count, so every replay of one trace with the
    same settings (``recommend``'s candidates, ``backtest --compare``'s specs) can share it."""

    def __init__(self, trace: Trace, settings: HpaSettings = DEFAULT_SETTINGS) -> None:
        self.trace = trace
        self.settings = _calculator_settings(settings)
        self._grouped: dict[tuple[ResourceKey, int], _GroupedStep] = {}

    def fits(self, trace: Trace, settings: HpaSettings) -> bool:
        """Whether these are the pods of ``trace``, grouped under ``settings``."""
        return trace is self.trace and _calculator_settings(settings) == self.settings

    def at(self, key: ResourceKey, index: int) -> _GroupedStep | None:
        """The pods of ``key``'s series at step ``index``, None without such a series."""
        series = self.trace.resources.get(key)
        if series is None:
            return None
        grouped = self._grouped.get((key, index))
        if grouped is None:
            grouped = self._group(series, key, index)
            self._grouped[key, index] = grouped
        return grouped

    def _group(self, series: PodSeries, key: ResourceKey, index: int) -> _GroupedStep:
        now = self.trace.times[index]
        usage, requests = series.usage[index], series.requests[index]
        phases = self.trace.phases_at(index)
        pods = tuple(
            _pod(
                name,
                now,
                _request_of(requests, name, key.resource),
                key.container,
                phases.get(name, PodPhase.RUNNING),
            )
            for name in sorted(set(usage) | set(requests))
        )
        samples = {name: PodMetric(value, now) for name, value in usage.items()}
        groups = group_pods(
            pods,
            samples,
            key.resource,
            now=now,
            cpu_initialization_period=self.settings.cpu_initialization_period,
            delay_of_initial_readiness_status=self.settings.delay_of_initial_readiness_status,
        )
        return _GroupedStep(pods, samples, requests, groups)


def _pods_at(
    recorded: RecordedPods, index: int, replicas: int, metric: MetricSpec
) -> tuple[list[PodInfo], dict[str, PodMetric]]:
    """The pods and samples of ``replicas`` pods at step ``index`` (see the module docstring)."""
    key = ResourceKey(metric.resource, metric.container)
    series = recorded.trace.resources.get(key)
    if series is None or replicas <= 0:
        return [], {}
    if not series.usage[index] or (
        not series.requests[index] and metric.target.type == "Utilization"
    ):
        return [], {}  # AverageValue, as the HPA's, needs no requests
    grouped = recorded.at(key, index)
    assert grouped is not None  # the series exists
    if grouped.counted == replicas:
        return list(grouped.pods), dict(grouped.samples)
    load = grouped.load()
    if load is None:
        return [], {}
    request = grouped.mean_request()
    now = recorded.trace.times[index]
    requests = {metric.resource: round(request) if request is not None else 0}
    pods = _simulated_pods(replicas, now, requests, metric.container)
    each = round(load / replicas)
    return pods, {pod.name: PodMetric(each, now) for pod in pods}


def _request_of(requests: Mapping[str, int], name: str, resource: str) -> dict[str, int]:
    return {resource: requests[name]} if name in requests else {}


def _simulated_pods(
    count: int, now: float, requests: Mapping[str, int], container: str
) -> list[PodInfo]:
    return [_pod(f"simulated-{i}", now, requests, container) for i in range(count)]


def _pod(
    name: str,
    now: float,
    requests: Mapping[str, int],
    container: str,
    phase: PodPhase = PodPhase.RUNNING,
) -> PodInfo:
    return PodInfo(
        name=name,
        phase=phase,
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
    recorded: RecordedPods,
    index: int,
    replicas: int,
    metrics: Sequence[MetricResult],
) -> tuple[float | None, ...]:
    """Per metric: the fraction of requests used at ``replicas`` pods (Resource metrics),
    else the usage ratio to the target."""
    ratios = _ratios(spec, metrics)
    loads: list[float | None] = []
    for metric, ratio in zip(spec.metrics, ratios, strict=True):
        if metric.history is History.QUERY or ratio is None:
            loads.append(ratio)
            continue
        key = ResourceKey(metric.resource, metric.container)
        loads.append(_utilization(recorded, key, index, replicas))
    return tuple(loads)


def _utilization(
    recorded: RecordedPods, key: ResourceKey, index: int, replicas: int
) -> float | None:
    """Usage over requests had the recorded load run on ``replicas`` pods."""
    series = recorded.trace.resources.get(key)
    if series is None or replicas <= 0:
        return None
    if not series.usage[index] or not series.requests[index]:
        return None
    grouped = recorded.at(key, index)
    assert grouped is not None  # the series exists
    load, request = grouped.load(), grouped.mean_request()
    return load / (request * replicas) if load is not None and request else None


__all__ = [
    "REPLAYED_TYPES",
    "BacktestError",
    "RecordedPods",
    "Replay",
    "Step",
    "check_replayable",
    "cold_start_seconds",
    "metric_result",
    "observe",
    "replay",
]
