"""The activation gate for ``minReplicas: 0``: when to leave zero and when to return to it.

Pure (no I/O, no clock). KEDA's semantics, made safe:

* a metric is *active* when its value is above its ``activationThreshold`` (unset: 0);
* at zero replicas the workload wakes only when some metric is active, and then to at least
  one replica (the engine's from-zero math may ask for more); activation wins over the target,
  so a value above the target but not above the threshold stays at zero;
* above zero the workload goes to zero only when every metric was read and none has been
  active for ``cooldown`` seconds, only once the engine itself has come down to one replica,
  and only when the scale-down policies allow the step to zero now (``policy_floor``), so the
  usual scale-down rules (stabilization, policies) shape the way to zero;
* a metric that failed is neither active nor inactive: errors never move through zero.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Activity(enum.StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    UNKNOWN = "Unknown"  # a metric failed and none of the others is active


@dataclass(frozen=True)
class MetricActivity:
    """One metric: its total value in milli-units (None if it failed) and its threshold."""

    value: int | None
    threshold: int = 0


@dataclass(frozen=True)
class GateResult:
    desired: int
    activity: Activity
    last_active: float | None
    changed: bool  # the gate overrode the engine's count
    message: str


def activity_of(metrics: Sequence[MetricActivity]) -> Activity:
    if any(m.value is not None and m.value > m.threshold for m in metrics):
        return Activity.ACTIVE
    if any(m.value is None for m in metrics) or not metrics:
        return Activity.UNKNOWN
    return Activity.INACTIVE


def gate(
    *,
    current: int,
    engine_desired: int,
    metrics: Sequence[MetricActivity],
    last_active: float | None,
    now: float,
    cooldown: float,
    policy_floor: int = 0,
) -> GateResult:
    """The replica count after the activation rules, for an Autoscaler with minReplicas 0.

    ``policy_floor``: the fewest replicas the scale-down policies allow now (0 or less: the
    step to zero is allowed; ``current`` when scaling down is disabled)."""
    activity = activity_of(metrics)
    if activity is Activity.ACTIVE:
        last_active = now
    elif last_active is None:
        # Never seen active (new Autoscaler, or status lost): the cooldown starts now.
        last_active = now

    def result(desired: int, message: str) -> GateResult:
        return GateResult(desired, activity, last_active, desired != engine_desired, message)

    if current == 0:
        if activity is Activity.ACTIVE:
            return result(max(engine_desired, 1), "activation: a metric is above its threshold")
        reason = (
            "a metric could not be read"
            if activity is Activity.UNKNOWN
            else "no metric is above its activation threshold"
        )
        return result(0, f"staying at zero: {reason}")
    if activity is Activity.INACTIVE:
        idle = now - last_active
        if idle >= cooldown and engine_desired <= 1:
            if policy_floor > 0:
                return result(
                    max(engine_desired, 1),
                    "inactive, waiting for the scale-down policy to allow the step to zero",
                )
            message = f"no metric above its activation threshold for {idle:.0f}s"
            return result(0, f"{message} (cooldown {cooldown:.0f}s)")
        return result(max(engine_desired, 1), "inactive, waiting for the cooldown")
    if activity is Activity.UNKNOWN:
        return result(max(engine_desired, 1), "a metric could not be read: never to zero on errors")
    return result(max(engine_desired, 1), "active")


__all__ = ["Activity", "GateResult", "MetricActivity", "activity_of", "gate"]
