"""One autoscaling decision, end to end (the pure part of ``reconcileAutoscaler``).

``decide`` takes each metric's outcome (a proposal or a failure), the spec and the
stored history, and returns the replica count to apply, the conditions, the new
history and a readable explanation. After a successful rescale the caller records it
with ``record_rescale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .behavior import Behavior, store_scale_event
from .conditions import Condition, ConditionType, Reason
from .history import ScalingHistory
from .model import DEFAULT_DOWNSCALE_STABILIZATION_WINDOW
from .normalization import (
    NormalizationInput,
    normalize_desired_replicas,
    normalize_desired_replicas_with_behaviors,
)
from .replica_calculator import ReplicaProposal
from .scale_to_zero import scaling_disabled

__all__ = [
    "CombinedProposal",
    "Decision",
    "MetricOutcome",
    "combine_metric_proposals",
    "decide",
    "record_rescale",
]


@dataclass(frozen=True, slots=True)
class MetricOutcome:
    """What one entry of ``spec.metrics`` produced this cycle.

    Attributes:
        name: A readable metric name, e.g. ``"cpu resource utilization (percentage of request)"``.
        proposal: The proposal, or None if the metric failed.
        failure_reason: The ``ScalingActive=False`` reason when it failed, e.g.
            ``FailedGetResourceMetric`` or ``InvalidMetricSourceType``.
        error: The failure message when it failed.
    """

    name: str
    proposal: ReplicaProposal | None = None
    failure_reason: Reason | None = None
    error: str | None = None

    @classmethod
    def failed(cls, name: str, reason: Reason, error: str) -> MetricOutcome:
        """An outcome for a metric that could not be computed."""
        return cls(name=name, failure_reason=reason, error=error)


@dataclass(frozen=True, slots=True)
class CombinedProposal:
    """Result of combining all metrics (``computeReplicasForMetrics``).

    Attributes:
        replicas: The largest valid proposal, or None when metrics block scaling.
        metric_name: The metric that won.
        invalid_count: How many metrics failed.
        condition: ``ScalingActive`` as upstream sets it.
    """

    replicas: int | None
    metric_name: str
    invalid_count: int
    condition: Condition


def combine_metric_proposals(
    outcomes: Sequence[MetricOutcome], spec_replicas: int
) -> CombinedProposal:
    """Take the maximum valid proposal, refusing a scale-down while a metric is invalid.

    Port of ``computeReplicasForMetrics``: if every metric failed, or some failed and
    the best valid proposal is below ``spec_replicas``, scaling is blocked with the
    first failure's condition. A partial failure may still scale up or hold.
    """
    replicas = 0
    metric_name = ""
    invalid_count = 0
    first_failure: MetricOutcome | None = None
    for outcome in outcomes:
        if outcome.proposal is None:
            if first_failure is None:
                first_failure = outcome
            invalid_count += 1
            continue
        if replicas == 0 or outcome.proposal.replicas > replicas:
            replicas = outcome.proposal.replicas
            metric_name = outcome.name
    if invalid_count >= len(outcomes) or (invalid_count > 0 and replicas < spec_replicas):
        reason = (
            first_failure.failure_reason
            if first_failure is not None and first_failure.failure_reason is not None
            else Reason.INVALID_METRIC_SOURCE_TYPE
        )
        error = first_failure.error if first_failure is not None else "no metrics configured"
        message = f"the HPA was unable to compute the replica count: {error}"
        return CombinedProposal(
            None,
            "",
            invalid_count,
            Condition(ConditionType.SCALING_ACTIVE, False, reason, message),
        )
    message = f"the HPA was able to successfully calculate a replica count from {metric_name}"
    return CombinedProposal(
        replicas,
        metric_name,
        invalid_count,
        Condition(ConditionType.SCALING_ACTIVE, True, Reason.VALID_METRIC_FOUND, message),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one decision.

    Attributes:
        current_replicas: ``scale.spec.replicas`` as given.
        desired_replicas: The count to apply; equal to ``current_replicas`` when not
            rescaling.
        rescale: Whether to update ``/scale``.
        rescale_reason: Upstream's event reason text ("cpu ... above target",
            "All metrics below target", "Current number of replicas above
            Spec.MaxReplicas", ...), empty when not rescaling.
        conditions: Conditions to set, in the order upstream sets them.
        history: The new history to persist (recommendations updated).
        explanation: Readable lines: each metric's proposal, the winner,
            stabilization, limits and conditions.
    """

    current_replicas: int
    desired_replicas: int
    rescale: bool
    rescale_reason: str
    conditions: tuple[Condition, ...]
    history: ScalingHistory
    explanation: tuple[str, ...]

    def condition(self, condition_type: ConditionType) -> Condition | None:
        """The last condition set of the given type, if any."""
        found = None
        for item in self.conditions:
            if item.type is condition_type:
                found = item
        return found

    def render(self) -> str:
        """The explanation as one multi-line text."""
        return "\n".join(self.explanation)


def decide(
    *,
    current_replicas: int,
    min_replicas: int,
    max_replicas: int,
    metrics: Sequence[MetricOutcome],
    history: ScalingHistory,
    now: float,
    behavior: Behavior | None = None,
    downscale_stabilization_window: float = DEFAULT_DOWNSCALE_STABILIZATION_WINDOW,
) -> Decision:
    """Decide the replica count for one autoscaler, as one HPA reconcile would.

    Order, as upstream: scaling disabled at zero; immediate reset to the bound when
    ``current_replicas`` is outside ``[min, max]`` (no metrics, stabilization or
    policies); otherwise combine the metrics, then normalize with or without
    ``behavior``.

    Args:
        current_replicas: ``scale.spec.replicas``.
        min_replicas: ``spec.minReplicas`` (pass 1 when unset).
        max_replicas: ``spec.maxReplicas``.
        metrics: One outcome per ``spec.metrics`` entry, in spec order.
        history: The stored history (``ScalingHistory.seeded`` on first sight).
        now: The current instant (epoch seconds).
        behavior: ``spec.behavior``, or None for the legacy path.
        downscale_stabilization_window: The controller's downscale window, seconds.

    Returns:
        The decision. Call ``record_rescale`` after a successful rescale.
    """
    lines = [f"current replicas {current_replicas}, bounds [{min_replicas}, {max_replicas}]"]

    def hold(conditions: tuple[Condition, ...], new_history: ScalingHistory) -> Decision:
        lines.extend(f"condition {item.describe()}" for item in conditions)
        lines.append(f"result: keep {current_replicas}")
        return Decision(
            current_replicas, current_replicas, False, "", conditions, new_history, tuple(lines)
        )

    if scaling_disabled(current_replicas, min_replicas):
        disabled = Condition(
            ConditionType.SCALING_ACTIVE,
            False,
            Reason.SCALING_DISABLED,
            "scaling is disabled since the replica count of the target is zero",
        )
        return hold((disabled,), history)

    if current_replicas > max_replicas or current_replicas < min_replicas:
        if current_replicas > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        else:
            desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        lines.append(f"{reason}: reset to {desired} at once (metrics and behavior not evaluated)")
        return Decision(current_replicas, desired, True, reason, (), history, tuple(lines))

    for outcome in metrics:
        if outcome.proposal is None:
            lines.append(
                f"metric {outcome.name}: failed ({outcome.failure_reason}): {outcome.error}"
            )
            continue
        lines.append(f"metric {outcome.name}: proposes {outcome.proposal.replicas}")
        lines.extend(f"  {note}" for note in outcome.proposal.notes)
    combined = combine_metric_proposals(metrics, current_replicas)
    if combined.replicas is None:
        lines.append(
            f"{combined.invalid_count} of {len(metrics)} metrics invalid and no valid metric "
            "asks for at least the current count: scaling blocked"
        )
        return hold((combined.condition,), history)
    desired = combined.replicas
    lines.append(f"highest proposal: {desired} from {combined.metric_name}")
    if desired > current_replicas:
        rescale_reason = f"{combined.metric_name} above target"
    elif desired < current_replicas:
        rescale_reason = "All metrics below target"
    else:
        rescale_reason = ""

    normalization = NormalizationInput(
        history,
        current_replicas=current_replicas,
        desired_replicas=desired,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        now=now,
        downscale_stabilization_window=downscale_stabilization_window,
    )
    if behavior is None:
        normalized = normalize_desired_replicas(normalization)
    else:
        normalized = normalize_desired_replicas_with_behaviors(normalization, behavior)
    lines.extend(normalized.notes)
    conditions = (combined.condition, *normalized.conditions)
    lines.extend(f"condition {item.describe()}" for item in conditions)
    new_history = ScalingHistory(
        normalized.recommendations, history.scale_up_events, history.scale_down_events
    )
    rescale = normalized.replicas != current_replicas
    if rescale:
        lines.append(
            f"result: scale {current_replicas} -> {normalized.replicas} ({rescale_reason})"
        )
    else:
        lines.append(f"result: keep {current_replicas}")
    return Decision(
        current_replicas=current_replicas,
        desired_replicas=normalized.replicas,
        rescale=rescale,
        rescale_reason=rescale_reason if rescale else "",
        conditions=conditions,
        history=new_history,
        explanation=tuple(lines),
    )


def record_rescale(
    history: ScalingHistory,
    behavior: Behavior | None,
    *,
    previous_replicas: int,
    new_replicas: int,
    now: float,
) -> ScalingHistory:
    """Record a successful rescale in the history (``storeScaleEvent``; behavior only)."""
    up, down = store_scale_event(
        behavior,
        history.scale_up_events,
        history.scale_down_events,
        previous_replicas=previous_replicas,
        new_replicas=new_replicas,
        now=now,
    )
    return ScalingHistory(history.recommendations, up, down)
