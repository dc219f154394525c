"""The Autoscaler controller's Prometheus metrics (``podpilot_autoscaler_*``).

Per-Autoscaler series carry only ``namespace`` and ``name`` (and ``metric``, the metric's
name, see :func:`metric_label`) and are removed when the Autoscaler is deleted; other labels
are closed sets (sources, results, reasons).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from podpilot.apimachinery.quantities import milli_value
from podpilot.autoscaler.api.limits import LIMIT_REASONS, LimitReason, limit_reasons
from podpilot.autoscaler.api.result import EvaluationResult, MetricResult
from podpilot.autoscaler.api.shadow import ShadowTally
from podpilot.autoscaler.api.spec import AutoscalerSpec, MetricSpec
from podpilot.observability.registry import REGISTRY

EVALUATIONS = Counter(
    "podpilot_autoscaler_evaluations_total",
    "Autoscaler evaluations, by what they did.",
    ["action"],
    registry=REGISTRY,
)
EVALUATION_SECONDS = Histogram(
    "podpilot_autoscaler_evaluation_duration_seconds",
    "Time to evaluate one Autoscaler (metrics, decision, actuation).",
    # Up to 60 s: an evaluation waits for reads of up to 30 s each (maxQuerySeconds, apiTimeout).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60),
    registry=REGISTRY,
)
METRIC_ERRORS = Counter(
    "podpilot_autoscaler_metric_errors_total",
    "Metrics that could not be read or used, by metric type and HPA reason.",
    ["type", "reason"],
    registry=REGISTRY,
)
EVALUATION_ERROR_STAGES = ("read", "metric", "decide", "act", "loop")
EVALUATION_ERRORS = Counter(
    "podpilot_autoscaler_evaluation_errors_total",
    "Unexpected exceptions in Autoscaler evaluations (each became a failed outcome), by "
    "Autoscaler and the step that raised: read, metric, decide, act, loop (status and events).",
    ["namespace", "name", "stage"],
    registry=REGISTRY,
)
RESCALES = Counter(
    "podpilot_autoscaler_rescales_total",
    "Successful /scale updates, by direction.",
    ["direction"],
    registry=REGISTRY,
)
METRIC_SOURCE_REQUESTS = Counter(
    "podpilot_metric_source_requests_total",
    "Metric reads by Autoscalers, by source (resource, containerresource, pods, object, "
    "external, prometheus); reads served from a shared in-flight or cached request count too.",
    ["source"],
    registry=REGISTRY,
)
METRIC_SOURCE_ERRORS = Counter(
    "podpilot_metric_source_errors_total",
    "Failed metric reads, by source and a closed set of reasons (unreachable, timeout, "
    "unauthorized, http_error, bad_response, partial_response, empty_result, "
    "response_too_large, too_many_series, url_refused, insecure_transport, not_found, "
    "credentials, computation, internal, error).",
    ["source", "reason"],
    registry=REGISTRY,
)
METRIC_SOURCE_SECONDS = Histogram(
    "podpilot_metric_source_request_duration_seconds",
    "Time to read one metric from its source, by source.",
    ["source"],
    # Up to 60 s: a read may take up to 30 s (maxQuerySeconds, apiTimeout) before it fails.
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60),
    registry=REGISTRY,
)
REACTION_SECONDS = Histogram(
    "podpilot_autoscaler_reaction_seconds",
    "From the evaluation that first wanted a different replica count to the /scale patch "
    "that applied it (includes stabilization windows), by direction.",
    ["direction"],
    # Stabilization windows go up to an hour; the HPA's default downscale window is 300 s, so
    # the buckets around it tell a window from a window and one evaluation period.
    buckets=(
        0.1,
        0.5,
        1,
        2.5,
        5,
        10,
        15,
        30,
        60,
        120,
        240,
        300,
        330,
        360,
        450,
        600,
        900,
        1800,
        3600,
    ),
    registry=REGISTRY,
)

STATUS_WRITES_QUEUED = Gauge(
    "podpilot_autoscaler_status_writes_queued",
    "Autoscaler statuses rendered and waiting for a writer (the newest one per Autoscaler); "
    "it grows while the API server answers slower than statuses change.",
    registry=REGISTRY,
)
STATUS_WRITES_IN_FLIGHT = Gauge(
    "podpilot_autoscaler_status_writes_in_flight",
    "Autoscaler status writes handed to the status writers' threads (at most 4) and not yet "
    "answered.",
    registry=REGISTRY,
)


def report_status_writes(queued: Callable[[], int], in_flight: Callable[[], int]) -> None:
    """Make the two status-write gauges read the writer's counts at every scrape."""
    STATUS_WRITES_QUEUED.set_function(lambda: float(queued()))
    STATUS_WRITES_IN_FLIGHT.set_function(lambda: float(in_flight()))


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One spec.metrics entry's value and target, in base units."""

    label: str
    value: float | None
    target: float | None


@dataclass(frozen=True, slots=True)
class AutoscalerSample:
    """One Autoscaler's per-Autoscaler series, as of its last evaluation."""

    current_replicas: int
    desired_replicas: int
    min_replicas: int
    max_replicas: int
    fallback_active: bool
    paused: bool
    last_evaluation: float
    evaluation_period: float
    active: bool | None  # only with minReplicas 0
    metrics: tuple[MetricSeries, ...] = ()
    limited: frozenset[LimitReason] = frozenset()


# name suffix, help, value of a sample (None: no series)
PER_AUTOSCALER: tuple[tuple[str, str, Callable[[AutoscalerSample], float | None]], ...] = (
    ("current_replicas", "The target's replicas at the last evaluation.",
     lambda s: s.current_replicas),
    ("desired_replicas", "The replicas the last evaluation decided.",
     lambda s: s.desired_replicas),
    ("min_replicas", "spec.minReplicas.", lambda s: s.min_replicas),
    ("max_replicas", "spec.maxReplicas.", lambda s: s.max_replicas),
    ("fallback_active", "1 while the Autoscaler's fallback is in effect.",
     lambda s: float(s.fallback_active)),
    ("paused", "1 while spec.paused is true.", lambda s: float(s.paused)),
    ("last_evaluation_timestamp_seconds", "When the Autoscaler was last evaluated (Unix time).",
     lambda s: s.last_evaluation),
    ("evaluation_period_seconds", "spec.evaluationPeriodSeconds.",
     lambda s: s.evaluation_period),
    ("active", "With minReplicas 0: 1 while some metric is above its activation threshold.",
     lambda s: None if s.active is None else float(s.active)),
)  # fmt: skip
LIMITED_HELP = (
    "Why the Autoscaler is not scaling (further): 1 for each reason that held back its last "
    "evaluation's count, 0 for the others; every reason of the fixed set has a series "
    "(max_replicas, min_replicas, scale_up_policy, scale_down_policy, stabilization_window, "
    "tolerance, missing_metrics, paused, dry_run, fallback, scaling_disabled, "
    "ambiguous_target)."
)
PER_METRIC: tuple[tuple[str, str, Callable[[MetricSeries], float | None]], ...] = (
    ("metric_value", "Each Object, External or Prometheus metric's current value in base units "
     "as its target measures it: the total against a Value target, the average per pod "
     "against an AverageValue target.", lambda m: m.value),
    ("metric_target", "Each Object, External or Prometheus metric's target: the value or the "
     "average value per pod, in base units.", lambda m: m.target),
)  # fmt: skip

SHADOW: tuple[tuple[str, str, Callable[[ShadowTally], float | None]], ...] = (
    ("shadow_agreement_ratio", "A DryRun Autoscaler shadowing an HPA: the share of comparable "
     "evaluations whose desired count equalled the HPA's (status.shadow).",
     lambda t: t.agreement_ratio),
    ("shadow_evaluations", "A DryRun Autoscaler shadowing an HPA: evaluations compared with "
     "the HPA's desired count since it began shadowing it.", lambda t: t.evaluations),
    ("shadow_agreed", "A DryRun Autoscaler shadowing an HPA: compared evaluations whose "
     "desired count equalled the HPA's.", lambda t: t.agreed),
)  # fmt: skip


Labels = dict[str, str]


class AutoscalerCollector:
    """Every Autoscaler's series, rendered at scrape time from one small sample each.

    A ``Gauge`` child per Autoscaler and series (11 per Autoscaler) cost about 7 KB each
    Autoscaler, 14 MB at 2,000, and a lock round per value every evaluation.

    Each family is a collector of its own (``families``): a scrape that asks for some families
    by name (``/metrics?name[]=...``) renders only those, not all 23 series of every
    Autoscaler (at 10,000 Autoscalers a whole render takes about 2 s of CPU).

    ``podpilot_autoscaler_limited`` has a series for every reason, 0 or 1, rather than only
    the active ones: ``avg_over_time`` then gives the share of time a reason held an
    Autoscaler back, a 0 tells "evaluated, not limited" from "not evaluated" (no series),
    and an alert's ``for`` sees a continuous series (kube-state-metrics' StateSet style).
    """

    def __init__(self) -> None:
        self._samples: dict[tuple[str, str], tuple[Labels, AutoscalerSample]] = {}
        self._shadows: dict[tuple[str, str], tuple[Labels, ShadowTally]] = {}

    def record(self, namespace: str, name: str, sample: AutoscalerSample) -> None:
        kept = self._samples.get((namespace, name))
        labels = kept[0] if kept is not None else {"namespace": namespace, "name": name}
        self._samples[(namespace, name)] = (labels, sample)

    def record_shadow(self, namespace: str, name: str, tally: ShadowTally | None) -> None:
        if tally is None:
            self._shadows.pop((namespace, name), None)
        else:
            self._shadows[(namespace, name)] = ({"namespace": namespace, "name": name}, tally)

    def exposed(self) -> list[tuple[str, str]]:
        """The Autoscalers with series: (namespace, name)."""
        return list(self._samples.keys() | self._shadows.keys())

    def forget(self, namespace: str, name: str) -> None:
        self._samples.pop((namespace, name), None)
        self._shadows.pop((namespace, name), None)

    def families(self) -> list[Collector]:
        """One collector per family, in exposition order."""
        collectors: list[Collector] = [
            _Family(f"podpilot_autoscaler_{suffix}", text, ["namespace", "name"],
                    partial(self._per_autoscaler, value_of))
            for suffix, text, value_of in PER_AUTOSCALER
        ]  # fmt: skip
        collectors.append(
            _Family(
                "podpilot_autoscaler_limited",
                LIMITED_HELP,
                ["namespace", "name", "reason"],
                self._limited,
            )
        )
        collectors += [
            _Family(f"podpilot_autoscaler_{suffix}", text, ["namespace", "name", "metric"],
                    partial(self._per_metric, value_of))
            for suffix, text, value_of in PER_METRIC
        ]  # fmt: skip
        collectors += [
            _Family(f"podpilot_autoscaler_{suffix}", text, ["namespace", "name"],
                    partial(self._per_shadow, value_of))
            for suffix, text, value_of in SHADOW
        ]  # fmt: skip
        return collectors

    def _per_autoscaler(
        self, value_of: Callable[[AutoscalerSample], float | None], name: str
    ) -> list[Sample]:
        # One C-level copy of the values: the event loop keeps recording during a scrape.
        kept = list(self._samples.values())
        return [
            Sample(name, labels, value)
            for labels, sample in kept
            if (value := value_of(sample)) is not None
        ]

    def _limited(self, name: str) -> list[Sample]:
        return [
            Sample(name, {**labels, "reason": str(reason)}, float(reason in sample.limited))
            for labels, sample in list(self._samples.values())
            for reason in LIMIT_REASONS
        ]

    def _per_metric(
        self, value_of: Callable[[MetricSeries], float | None], name: str
    ) -> list[Sample]:
        return [
            Sample(name, {**labels, "metric": series.label}, value)
            for labels, sample in list(self._samples.values())
            for series in sample.metrics
            if (value := value_of(series)) is not None
        ]

    def _per_shadow(
        self, value_of: Callable[[ShadowTally], float | None], name: str
    ) -> list[Sample]:
        return [
            Sample(name, labels, value)
            for labels, tally in list(self._shadows.values())
            if (value := value_of(tally)) is not None
        ]


class _Family(Collector):
    """One gauge family whose samples ``render(name)`` makes at scrape time."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        render: Callable[[str], list[Sample]],
    ) -> None:
        self._name, self._documentation, self._labels = name, documentation, labels
        self._render = render

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, labels=self._labels)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=self._labels)
        family.samples = self._render(self._name)
        yield family


AUTOSCALERS = AutoscalerCollector()
for _family in AUTOSCALERS.families():
    REGISTRY.register(_family)


def observe_metric_read(source: str, seconds: float, error_kind: str | None) -> None:
    """One metric read; ``error_kind`` from a closed set, None when it succeeded."""
    METRIC_SOURCE_REQUESTS.labels(source).inc()
    METRIC_SOURCE_SECONDS.labels(source).observe(seconds)
    if error_kind is not None:
        METRIC_SOURCE_ERRORS.labels(source, error_kind).inc()


# The Autoscalers with an evaluation-error series (the counter's children are not listed).
_WITH_ERRORS: set[tuple[str, str]] = set()


def count_evaluation_error(namespace: str, name: str, stage: str) -> None:
    """One unexpected exception at ``stage``; an unknown stage counts as ``loop``."""
    known = stage if stage in EVALUATION_ERROR_STAGES else "loop"
    EVALUATION_ERRORS.labels(namespace, name, known).inc()
    _WITH_ERRORS.add((namespace, name))


def exposed() -> list[tuple[str, str]]:
    """The Autoscalers with any series of their own: (namespace, name)."""
    return list(set(AUTOSCALERS.exposed()) | _WITH_ERRORS)


def forget(namespace: str, name: str) -> None:
    """Remove every per-Autoscaler series of a deleted Autoscaler."""
    AUTOSCALERS.forget(namespace, name)
    _WITH_ERRORS.discard((namespace, name))
    for stage in EVALUATION_ERROR_STAGES:
        with contextlib.suppress(KeyError):  # only stages that ever failed have a series
            EVALUATION_ERRORS.remove(namespace, name, stage)


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def metric_label(spec: MetricSpec) -> str:
    """The ``metric`` label of one spec.metrics entry: its type and name, so that reordering
    spec.metrics keeps every series. A selector or a PromQL query, which the name alone does
    not tell apart, adds a short digest of itself.

    ``resource/cpu``, ``containerresource/app/cpu``, ``pods/rps``, ``external/queue/1a2b3c4d``
    (with a selector), ``object/Ingress/main/hits``, ``prometheus/main/5e6f7a8b``.
    """
    kind = spec.type.lower()
    if spec.prometheus is not None:
        return f"{kind}/{spec.prometheus.server}/{_digest(spec.prometheus.query)}"
    if spec.resource:
        parts = [kind, spec.container, spec.resource] if spec.container else [kind, spec.resource]
        return "/".join(parts)
    parts = [kind]
    if spec.described_object is not None:
        parts += [spec.described_object.kind, spec.described_object.name]
    parts.append(spec.metric_name)
    if spec.metric_selector:
        parts.append(_digest(spec.metric_selector))
    return "/".join(parts)


def value_and_target(label: str, item: MetricResult) -> MetricSeries:
    """The value as the target measures it: the total against a Value target, the per-pod
    average (as status.currentMetrics gives it) against an AverageValue target."""
    target = item.spec.target
    if target.type == "AverageValue":
        average = item.current.get("averageValue") if item.value is not None else None
        return MetricSeries(
            label,
            milli_value(average) / 1000 if isinstance(average, str) else None,
            target.average_value / 1000 if target.average_value is not None else None,
        )
    return MetricSeries(
        label,
        item.value / 1000 if item.value is not None else None,
        target.value / 1000 if target.value is not None else None,
    )


def sample_of(spec: AutoscalerSpec, result: EvaluationResult, now: float) -> AutoscalerSample:
    """One Autoscaler's per-Autoscaler series after an evaluation."""
    active = None
    if spec.min_replicas == 0:
        active = any(c.type == "Active" and c.status for c in result.conditions)
    series: dict[str, MetricSeries] = {}
    for item in result.metrics:
        label = metric_label(item.spec)
        if label in series:
            continue  # the same metric twice in spec.metrics: one series, the first entry's
        series[label] = value_and_target(label, item)
    return AutoscalerSample(
        current_replicas=result.current_replicas,
        desired_replicas=result.desired_replicas,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        fallback_active=result.fallback_applied,
        paused=spec.paused,
        last_evaluation=now,
        evaluation_period=spec.evaluation_period,
        active=active,
        metrics=tuple(series.values()),
        limited=limit_reasons(result),
    )


class AutoscalerRecorder:
    """The controller's ``Recorder``: every report becomes these metrics."""

    def metric_read(self, source: str, seconds: float, error_kind: str | None) -> None:
        observe_metric_read(source, seconds, error_kind)

    def evaluated(
        self,
        namespace: str,
        name: str,
        spec: AutoscalerSpec,
        result: EvaluationResult,
        seconds: float,
        now: float,
        *,
        exposing: bool = True,
    ) -> None:
        EVALUATION_SECONDS.observe(seconds)
        EVALUATIONS.labels(str(result.action)).inc()
        for item in result.metrics:
            if item.outcome.failure_reason is not None:
                METRIC_ERRORS.labels(item.spec.type, str(item.outcome.failure_reason)).inc()
        if result.rescaled:
            direction = "up" if result.desired_replicas > result.current_replicas else "down"
            RESCALES.labels(direction).inc()
        if not exposing:
            return
        for item in result.metrics:
            if item.internal_error:
                count_evaluation_error(namespace, name, "metric")
        if result.error_stage is not None:
            count_evaluation_error(namespace, name, result.error_stage)
        AUTOSCALERS.record(namespace, name, sample_of(spec, result, now))

    def evaluation_error(self, namespace: str, name: str, stage: str) -> None:
        count_evaluation_error(namespace, name, stage)

    def reaction(self, direction: str, seconds: float) -> None:
        REACTION_SECONDS.labels(direction).observe(seconds)

    def shadowed(self, namespace: str, name: str, tally: ShadowTally | None) -> None:
        AUTOSCALERS.record_shadow(namespace, name, tally)

    def forget(self, namespace: str, name: str) -> None:
        forget(namespace, name)

    def exposed(self) -> list[tuple[str, str]]:
        return exposed()


RECORDER = AutoscalerRecorder()
