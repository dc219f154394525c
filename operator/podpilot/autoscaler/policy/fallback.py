"""The fallback when every metric fails: hold the count, or go to a static count after
``failureThreshold`` evaluations without metrics; and the Events marking its start and end.

Pure. Without metrics the HPA itself never scales down (it holds); ``Static`` is podpilot's.
"""

from __future__ import annotations

from dataclasses import dataclass

from podpilot.autoscaler.api.result import Event, StatusCondition
from podpilot.autoscaler.api.spec import AutoscalerSpec, FallbackPolicy

METRICS_AVAILABLE = StatusCondition(
    "FallbackActive", False, "MetricsAvailable", "metrics are being read"
)


@dataclass(frozen=True)
class FallbackDecision:
    """The count the fallback sets, whether that is a change, why, and its condition."""

    desired: int
    rescale: bool
    reason: str
    condition: StatusCondition


def fallback(spec: AutoscalerSpec, current: int, failures: int) -> FallbackDecision:
    """The fallback in effect after ``failures`` evaluations without any metric."""
    if spec.fallback.policy is FallbackPolicy.STATIC and spec.fallback.replicas is not None:
        target = min(max(spec.fallback.replicas, spec.min_replicas), spec.max_replicas)
        message = f"{failures} evaluations without metrics: static fallback to {target} replicas"
        condition = StatusCondition("FallbackActive", True, "StaticFallback", message)
        return FallbackDecision(
            target, target != current, "static fallback: no metric could be read", condition
        )
    message = f"{failures} evaluations without metrics: holding {current} replicas"
    condition = StatusCondition("FallbackActive", True, "HoldFallback", message)
    return FallbackDecision(current, False, "", condition)


def fallback_transitions(
    spec: AutoscalerSpec, before: int, failures: int, current: int, desired: int
) -> list[Event]:
    """An Event when the fallback starts (threshold reached) and when it ends (metrics back)."""
    threshold = spec.fallback.failure_threshold
    if failures >= threshold > before:
        what = (
            f"scaling to {desired} replicas"
            if spec.fallback.policy is FallbackPolicy.STATIC
            else f"holding {current} replicas"
        )
        message = f"no metric could be read in {failures} evaluations: fallback {what}"
        return [Event("Warning", "FallbackActivated", message)]
    if before >= threshold and failures == 0:
        message = f"metrics are readable again after {before} failed evaluations; fallback ended"
        return [Event("Normal", "FallbackDeactivated", message)]
    return []


__all__ = ["METRICS_AVAILABLE", "FallbackDecision", "fallback", "fallback_transitions"]
