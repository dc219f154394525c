"""The fallback when every metric fails, and the Events marking its start and end. Pure.

It applies once every metric has been failing for ``failureThreshold`` evaluation periods of
wall time, counted from the first failed evaluation of the streak (persisted in status), so
quick retries of failed evaluations do not bring it forward and a restart does not delay or
hasten it. ``Hold`` keeps the count (the HPA's own rule without metrics). ``Static`` feeds
``fallback.replicas`` to the engine as the recommendation, as if a metric proposed it, so the
bounds, the stabilization windows and the behavior policies apply to it; it lowers the count
only with ``allowScaleDown``, otherwise it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from podpilot.autoscaler.api.result import Event, StatusCondition
from podpilot.autoscaler.api.spec import AutoscalerSpec, FallbackPolicy
from podpilot.autoscaler.engine import Decision, MetricOutcome, ReplicaProposal, ScalingHistory
from podpilot.autoscaler.engine import decide as engine_decide

METRICS_AVAILABLE = StatusCondition(
    "FallbackActive", False, "MetricsAvailable", "metrics are being read"
)
FALLBACK_PROPOSAL = "spec.fallback.replicas"


def fallback_due(spec: AutoscalerSpec, failing_since: float | None, now: float) -> bool:
    """Whether every metric has been failing long enough for the fallback to apply."""
    return failing_since is not None and now - failing_since >= spec.fallback_delay


@dataclass(frozen=True)
class FallbackDecision:
    """The engine's decision on ``fallback.replicas`` (None: hold), why, and the condition."""

    decision: Decision | None
    reason: str
    condition: StatusCondition


def fallback(
    spec: AutoscalerSpec,
    *,
    current: int,
    history: ScalingHistory,
    now: float,
    failing_since: float,
    failures: int,
    downscale_stabilization_window: float,
) -> FallbackDecision:
    """The fallback in effect, every metric failing since ``failing_since``."""
    failing = f"no metric read for {now - failing_since:.0f}s ({failures} evaluations)"
    if spec.fallback.policy is not FallbackPolicy.STATIC or spec.fallback.replicas is None:
        message = f"{failing}: holding {current} replicas"
        return FallbackDecision(
            None, "", StatusCondition("FallbackActive", True, "HoldFallback", message)
        )
    target = min(max(spec.fallback.replicas, spec.min_replicas), spec.max_replicas)
    if target < current and not spec.fallback.allow_scale_down:
        message = (
            f"{failing}: static fallback to {target} replicas would scale down and "
            f"fallback.allowScaleDown is false: holding {current} replicas"
        )
        return FallbackDecision(
            None, "", StatusCondition("FallbackActive", True, "StaticFallback", message)
        )
    proposal = ReplicaProposal(
        replicas=target,
        current_value=0,
        usage_ratio=1.0,
        notes=(f"static fallback: {failing}",),
    )
    decision = engine_decide(
        current_replicas=current,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        metrics=[MetricOutcome(FALLBACK_PROPOSAL, proposal)],
        history=history,
        now=now,
        behavior=spec.behavior,
        downscale_stabilization_window=downscale_stabilization_window,
    )
    applied = decision.desired_replicas
    step = "" if applied == target else f", {applied} for now (stabilization and behavior)"
    message = f"{failing}: static fallback to {target} replicas{step}"
    return FallbackDecision(
        decision,
        "static fallback: no metric could be read",
        StatusCondition("FallbackActive", True, "StaticFallback", message),
    )


def fallback_transitions(
    *,
    was_active: bool,
    active: bool,
    failures_before: int,
    failures: int,
    current: int,
    desired: int,
) -> list[Event]:
    """An Event when the fallback starts (its delay has passed) and when it ends (metrics
    back)."""
    if active and not was_active:
        what = (
            f"scaling to {desired} replicas"
            if desired != current
            else f"holding {current} replicas"
        )
        message = f"no metric could be read in {failures} evaluations: fallback {what}"
        return [Event("Warning", "FallbackActivated", message)]
    if was_active and failures == 0:
        message = (
            f"metrics are readable again after {failures_before} failed evaluations; fallback ended"
        )
        return [Event("Normal", "FallbackDeactivated", message)]
    return []


__all__ = [
    "FALLBACK_PROPOSAL",
    "METRICS_AVAILABLE",
    "FallbackDecision",
    "fallback",
    "fallback_due",
    "fallback_transitions",
]
