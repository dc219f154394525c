"""Why an Autoscaler is not scaling (further): a fixed set of reasons read off one evaluation.

Each reason is something that made the count differ from what the metrics alone proposed,
or held it, in this evaluation. They are read from the decision the engine and the policy
already made (its conditions, its metrics, its action), never recomputed, so the metric
``podpilot_autoscaler_limited`` always agrees with the status and ``podpilot explain``.
Several may hold at once (a scale-up stabilized and then capped by a policy). Pure.

A failure to read or write the target is not here: it has its own conditions, Events and
metrics (``podpilot_autoscaler_evaluation_errors_total``, the metric error counters).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from podpilot.autoscaler.engine import Condition, ConditionType, Reason

from .owners import AMBIGUOUS_SCALE_TARGET
from .result import Action, EvaluationResult, MetricResult, StatusCondition


class LimitReason(enum.StrEnum):
    """The ``reason`` label of ``podpilot_autoscaler_limited``; a closed, documented set."""

    MAX_REPLICAS = "max_replicas"  # the proposal was above spec.maxReplicas (TooManyReplicas)
    MIN_REPLICAS = "min_replicas"  # the proposal was below spec.minReplicas (TooFewReplicas)
    SCALE_UP_POLICY = "scale_up_policy"  # a scale-up policy, or the legacy max(2x, 4) step
    SCALE_DOWN_POLICY = "scale_down_policy"  # a scale-down policy
    STABILIZATION_WINDOW = "stabilization_window"  # ScaleUpStabilized / ScaleDownStabilized
    TOLERANCE = "tolerance"  # the winning metric is off target, but inside the tolerance
    MISSING_METRICS = "missing_metrics"  # a spec metric could not be read or computed
    PAUSED = "paused"  # spec.paused withheld a change
    DRY_RUN = "dry_run"  # mode DryRun withheld a change
    FALLBACK = "fallback"  # the fallback decides instead of the metrics
    SCALING_DISABLED = "scaling_disabled"  # target at 0 replicas while minReplicas is not 0
    AMBIGUOUS_TARGET = "ambiguous_target"  # another autoscaler scales the target


LIMIT_REASONS: tuple[LimitReason, ...] = tuple(LimitReason)

_LIMITED_BY = {
    Reason.TOO_MANY_REPLICAS: LimitReason.MAX_REPLICAS,
    Reason.TOO_FEW_REPLICAS: LimitReason.MIN_REPLICAS,
    Reason.SCALE_UP_LIMIT: LimitReason.SCALE_UP_POLICY,
    Reason.SCALE_DOWN_LIMIT: LimitReason.SCALE_DOWN_POLICY,
}
_STABILIZED = frozenset({Reason.SCALE_UP_STABILIZED, Reason.SCALE_DOWN_STABILIZED})


def limit_reasons(result: EvaluationResult) -> frozenset[LimitReason]:
    """Every reason that held this evaluation's count back, or held it; empty when none."""
    reasons: set[LimitReason] = set()
    decision = result.decision
    engine_conditions = decision.conditions if decision is not None else ()
    limited = _last(engine_conditions, ConditionType.SCALING_LIMITED)
    if limited is not None and limited.status and limited.reason in _LIMITED_BY:
        reasons.add(_LIMITED_BY[limited.reason])
    able = _last(engine_conditions, ConditionType.ABLE_TO_SCALE)
    if able is not None and able.reason in _STABILIZED:
        reasons.add(LimitReason.STABILIZATION_WINDOW)
    if not result.fallback_applied and _held_by_tolerance(result):
        reasons.add(LimitReason.TOLERANCE)
    if any(item.outcome.proposal is None for item in result.metrics):
        reasons.add(LimitReason.MISSING_METRICS)
    if result.action is Action.PAUSED:
        reasons.add(LimitReason.PAUSED)
    if result.action is Action.DRY_RUN:
        reasons.add(LimitReason.DRY_RUN)
    if result.fallback_applied:
        reasons.add(LimitReason.FALLBACK)
    if _has_reason(result.conditions, str(Reason.SCALING_DISABLED)):
        reasons.add(LimitReason.SCALING_DISABLED)
    if _has_reason(result.conditions, AMBIGUOUS_SCALE_TARGET):
        reasons.add(LimitReason.AMBIGUOUS_TARGET)
    return frozenset(reasons)


def _held_by_tolerance(result: EvaluationResult) -> bool:
    """The metrics' combined proposal is the current count only because every metric that
    proposed it is off its target by less than the tolerance (exactly on target is not
    being held back: there is nothing to do)."""
    proposing = [item for item in result.metrics if item.outcome.proposal is not None]
    if not proposing:
        return False
    best = max(_replicas(item) for item in proposing)
    if best != result.current_replicas:
        return False
    winners = [item.outcome.proposal for item in proposing if _replicas(item) == best]
    return all(p is not None and p.within_tolerance and p.usage_ratio != 1.0 for p in winners)


def _replicas(item: MetricResult) -> int:
    proposal = item.outcome.proposal
    return proposal.replicas if proposal is not None else -1


def _last(conditions: Iterable[Condition], kind: ConditionType) -> Condition | None:
    found = None
    for condition in conditions:
        if condition.type is kind:
            found = condition
    return found


def _has_reason(conditions: Iterable[StatusCondition], reason: str) -> bool:
    return any(not condition.status and condition.reason == reason for condition in conditions)


__all__ = ["LIMIT_REASONS", "LimitReason", "limit_reasons"]
