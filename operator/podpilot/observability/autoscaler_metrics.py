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
PER_AUTOSCALER = (
    CURRENT_REPLICAS,
    DESIRED_REPLICAS,
    MIN_REPLICAS,
    MAX_REPLICAS,
    FALLBACK_ACTIVE,
    PAUSED,
    LAST_EVALUATION,
)


def forget(namespace: str, name: str) -> None:
    """Remove every per-Autoscaler series of a deleted Autoscaler."""
    for gauge in PER_AUTOSCALER:
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)
