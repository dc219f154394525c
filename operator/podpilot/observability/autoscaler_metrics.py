"""The Autoscaler controller's Prometheus metrics (``podpilot_autoscaler_*``).

Per-Autoscaler series carry only ``namespace`` and ``name`` and are removed when the
Autoscaler is deleted; other labels are closed sets (sources, results, reasons).
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

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
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
METRIC_ERRORS = Counter(
    "podpilot_autoscaler_metric_errors_total",
    "Metrics that could not be read or used, by metric type and HPA reason.",
    ["type", "reason"],
    registry=REGISTRY,
)
RESCALES = Counter(
    "podpilot_autoscaler_rescales_total",
    "Successful /scale updates, by direction.",
    ["direction"],
    registry=REGISTRY,
)
CURRENT_REPLICAS = Gauge(
    "podpilot_autoscaler_current_replicas",
    "The target's replicas at the last evaluation.",
    ["namespace", "name"],
    registry=REGISTRY,
)
DESIRED_REPLICAS = Gauge(
    "podpilot_autoscaler_desired_replicas",
    "The replicas the last evaluation decided.",
    ["namespace", "name"],
    registry=REGISTRY,
)
MIN_REPLICAS = Gauge(
    "podpilot_autoscaler_min_replicas",
    "spec.minReplicas.",
    ["namespace", "name"],
    registry=REGISTRY,
)
MAX_REPLICAS = Gauge(
    "podpilot_autoscaler_max_replicas",
    "spec.maxReplicas.",
    ["namespace", "name"],
    registry=REGISTRY,
)
FALLBACK_ACTIVE = Gauge(
    "podpilot_autoscaler_fallback_active",
    "1 while the Autoscaler's fallback is in effect.",
    ["namespace", "name"],
    registry=REGISTRY,
)
PAUSED = Gauge(
    "podpilot_autoscaler_paused",
    "1 while spec.paused is true.",
    ["namespace", "name"],
    registry=REGISTRY,
)
LAST_EVALUATION = Gauge(
    "podpilot_autoscaler_last_evaluation_timestamp_seconds",
    "When the Autoscaler was last evaluated (Unix time).",
    ["namespace", "name"],
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
    "unauthorized, http_error, bad_response, empty_result, not_found, credentials, "
    "computation, error).",
    ["source", "reason"],
    registry=REGISTRY,
)
METRIC_SOURCE_SECONDS = Histogram(
    "podpilot_metric_source_request_duration_seconds",
    "Time to read one metric from its source, by source.",
    ["source"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
REACTION_SECONDS = Histogram(
    "podpilot_autoscaler_reaction_seconds",
    "From the evaluation that first wanted a different replica count to the /scale patch "
    "that applied it (includes stabilization windows), by direction.",
    ["direction"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
METRIC_VALUE = Gauge(
    "podpilot_autoscaler_metric_value",
    "Each metric's current total value in base units (Object, External, Prometheus), by its "
    "index in spec.metrics.",
    ["namespace", "name", "metric"],
    registry=REGISTRY,
)
METRIC_TARGET = Gauge(
    "podpilot_autoscaler_metric_target",
    "Each metric's target value (or average value) in base units, by its index in spec.metrics.",
    ["namespace", "name", "metric"],
    registry=REGISTRY,
)
EVALUATION_PERIOD = Gauge(
    "podpilot_autoscaler_evaluation_period_seconds",
    "spec.evaluationPeriodSeconds.",
    ["namespace", "name"],
    registry=REGISTRY,
)
ACTIVE = Gauge(
    "podpilot_autoscaler_active",
    "With minReplicas 0: 1 while some metric is above its activation threshold.",
    ["namespace", "name"],
    registry=REGISTRY,
)
PER_AUTOSCALER = (
    CURRENT_REPLICAS,
    DESIRED_REPLICAS,
    MIN_REPLICAS,
    MAX_REPLICAS,
    FALLBACK_ACTIVE,
    PAUSED,
    LAST_EVALUATION,
    EVALUATION_PERIOD,
    ACTIVE,
)
PER_METRIC = (METRIC_VALUE, METRIC_TARGET)
_metric_indexes: dict[tuple[str, str], set[str]] = {}


def set_metric_series(
    namespace: str, name: str, series: dict[str, tuple[float | None, float | None]]
) -> None:
    """Value and target per metric index; indexes no longer in the spec are removed."""
    for index in _metric_indexes.get((namespace, name), set()) - set(series):
        for gauge in PER_METRIC:
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name, index)
    _metric_indexes[(namespace, name)] = set(series)
    for index, (value, target) in series.items():
        for gauge, number in ((METRIC_VALUE, value), (METRIC_TARGET, target)):
            if number is not None:
                gauge.labels(namespace, name, index).set(number)


def observe_metric_read(source: str, seconds: float, error_kind: str | None) -> None:
    """One metric read; ``error_kind`` from a closed set, None when it succeeded."""
    METRIC_SOURCE_REQUESTS.labels(source).inc()
    METRIC_SOURCE_SECONDS.labels(source).observe(seconds)
    if error_kind is not None:
        METRIC_SOURCE_ERRORS.labels(source, error_kind).inc()


def forget(namespace: str, name: str) -> None:
    """Remove every per-Autoscaler series of a deleted Autoscaler."""
    for gauge in PER_AUTOSCALER:
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)
    set_metric_series(namespace, name, {})
    _metric_indexes.pop((namespace, name), None)
