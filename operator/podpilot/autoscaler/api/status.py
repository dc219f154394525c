"""An evaluation result rendered as the Autoscaler's status (HPA v2 fields plus the trace)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podpilot.apimachinery.conditions import by_type, written_condition
from podpilot.apimachinery.digests import json_digest
from podpilot.apimachinery.quantities import format_milli, milli_value
from podpilot.apimachinery.timestamps import format_time, parse_time
from podpilot.autoscaler.engine import (
    MetricOutcome,
    ScaleEvent,
    ScalingHistory,
    TimestampedRecommendation,
)

from .history import PendingRescale
from .metric_types import METRIC_TYPES
from .result import Action, EvaluationResult, MetricResult, StatusCondition
from .spec import AutoscalerSpec, MetricSpec

MAX_TARGETS_SHOWN = 2
MAX_EXPLANATION_LINES = 64
MAX_LINE_LENGTH = 512


def metric_label(spec: MetricSpec) -> str:
    """Short name of a metric, as in the Targets column."""
    kind = METRIC_TYPES.get(spec.type)
    return kind.label(spec) if kind is not None else spec.metric_name or spec.type


def _target_text(raw_target: Mapping[str, Any], key: str) -> str:
    value = raw_target.get(key)
    if value is None:
        return "<auto>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A number is printed as the HPA's Quantity prints one: 0.5 as 500m.
        return format_milli(milli_value(str(value)))
    return str(value)


def format_targets(metrics: Sequence[MetricResult]) -> str:
    """The Targets column exactly as ``kubectl get hpa`` words it."""
    parts: list[str] = []
    for result in metrics:
        spec, current = result.spec, result.current
        kind = METRIC_TYPES.get(spec.type)
        block_name = kind.block if kind is not None else ""
        target: Mapping[str, Any] = (spec.raw.get(block_name) or {}).get("target") or {}
        if kind is not None and kind.names_a_resource:
            if spec.target.type == "AverageValue":
                now = str(current.get("averageValue", "<unknown>"))
                parts.append(f"{spec.resource}: {now}/{_target_text(target, 'averageValue')}")
            else:
                util = current.get("averageUtilization")
                now = f"{util}%" if util is not None else "<unknown>"
                goal = target.get("averageUtilization")
                goal_text = f"{goal}%" if goal is not None else "<auto>"
                parts.append(f"{spec.resource}: {now}/{goal_text}")
        elif spec.target.type == "AverageValue":
            now = str(current.get("averageValue", "<unknown>"))
            suffix = kind.average_suffix if kind is not None else " (avg)"
            parts.append(f"{now}/{_target_text(target, 'averageValue')}{suffix}")
        else:
            now = str(current.get("value", "<unknown>"))
            parts.append(f"{now}/{_target_text(target, 'value')}")
    if len(parts) > MAX_TARGETS_SHOWN:
        more = len(parts) - MAX_TARGETS_SHOWN
        return ", ".join(parts[:MAX_TARGETS_SHOWN]) + f" + {more} more..."
    return ", ".join(parts) if parts else "<none>"


def current_metric_status(result: MetricResult) -> dict[str, Any]:
    """One HPA ``MetricStatus`` entry; a failed metric is written as its type only."""
    spec = result.spec
    entry: dict[str, Any] = {"type": spec.type}
    if not result.current:
        return entry
    kind = METRIC_TYPES.get(spec.type)
    block = kind.status_block(spec) if kind is not None else None
    if kind is not None and block is not None:
        entry[kind.block] = {**block, "current": dict(result.current)}
    return entry


def merge_conditions(
    previous: Sequence[Mapping[str, Any]],
    new: Sequence[StatusCondition],
    now: float,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """Last one of each type wins; lastTransitionTime moves only when the status flips.

    Each condition carries ``observedGeneration``, the ``metadata.generation`` of the spec
    the evaluation that set it read (as upstream's HPA conditions do since 1.35), so a
    client can tell a condition about the spec it just applied from one about the spec
    before; omitted when the generation is unknown.
    """
    latest: dict[str, StatusCondition] = {}
    for condition in new:
        latest[condition.type] = condition
    before = by_type(previous)
    now_text = format_time(now)
    merged = []
    for condition in latest.values():
        item = written_condition(
            condition.type,
            "True" if condition.status else "False",
            condition.reason,
            condition.message[:4096],
            before=before.get(condition.type),
            now=now_text,
        )
        if generation is not None:
            item["observedGeneration"] = generation
        merged.append(item)
    return merged


def summary(result: EvaluationResult, spec: AutoscalerSpec) -> str:
    """The Status column: Paused > Failed > Fallback > Limited > Ready."""
    conditions = {condition.type: condition for condition in result.conditions}
    if spec.paused:
        return "Paused"
    able = conditions.get("AbleToScale")
    active = conditions.get("ScalingActive")
    if (able is not None and not able.status) or (active is not None and not active.status):
        return "Fallback" if result.fallback_applied else "Failed"
    if result.fallback_applied:
        return "Fallback"
    limited = conditions.get("ScalingLimited")
    if limited is not None and limited.status:
        return "Limited"
    return "Ready"


def history_to_status(history: ScalingHistory) -> dict[str, Any]:
    return {
        "recommendations": [
            {"timestamp": format_time(item.timestamp, precise=True), "replicas": item.replicas}
            for item in history.recommendations
        ],
        "scaleUpEvents": [_event(item) for item in history.scale_up_events],
        "scaleDownEvents": [_event(item) for item in history.scale_down_events],
    }


def _event(item: ScaleEvent) -> dict[str, Any]:
    return {
        "timestamp": format_time(item.timestamp, precise=True),
        "replicaChange": item.replica_change,
        "outdated": item.outdated,
    }


def history_from_status(stored: Mapping[str, Any] | None) -> ScalingHistory | None:
    """The persisted history, or None when this Autoscaler has never been evaluated."""
    if not stored:
        return None
    return ScalingHistory(
        recommendations=tuple(
            TimestampedRecommendation(int(item["replicas"]), parse_time(item["timestamp"]) or 0.0)
            for item in stored.get("recommendations") or []
        ),
        scale_up_events=tuple(_stored_event(item) for item in stored.get("scaleUpEvents") or []),
        scale_down_events=tuple(
            _stored_event(item) for item in stored.get("scaleDownEvents") or []
        ),
    )


def _stored_event(item: Mapping[str, Any]) -> ScaleEvent:
    return ScaleEvent(
        replica_change=int(item["replicaChange"]),
        timestamp=parse_time(item["timestamp"]) or 0.0,
        outdated=bool(item.get("outdated", False)),
    )


def pending_rescale_to_status(pending: PendingRescale) -> dict[str, Any]:
    return {
        "timestamp": format_time(pending.timestamp, precise=True),
        "fromReplicas": pending.from_replicas,
        "toReplicas": pending.to_replicas,
    }


def pending_rescale_from_status(stored: Mapping[str, Any] | None) -> PendingRescale | None:
    """The rescale a previous process recorded and may or may not have applied."""
    if not stored:
        return None
    return PendingRescale(
        from_replicas=int(stored["fromReplicas"]),
        to_replicas=int(stored["toReplicas"]),
        timestamp=parse_time(stored["timestamp"]) or 0.0,
    )


def _decision_trace(result: EvaluationResult) -> dict[str, Any]:
    metrics = []
    winner: int | None = None
    best = -1
    for item in result.metrics:
        index = item.spec.index
        entry: dict[str, Any] = {"index": index, "type": item.spec.type}
        entry["name"] = metric_label(item.spec)
        if item.current:
            entry["current"] = dict(item.current)
        proposal = item.outcome.proposal
        if proposal is not None:
            entry["proposedReplicas"] = proposal.replicas
            if proposal.replicas > best:
                best, winner = proposal.replicas, index
        if item.outcome.error:
            entry["error"] = item.outcome.error[:4096]
        if item.details:
            entry["details"] = {key: value[:256] for key, value in list(item.details.items())[:16]}
        metrics.append(entry)
    trace: dict[str, Any] = {
        "evaluatedAt": format_time(result.now),
        "currentReplicas": result.current_replicas,
        "metrics": metrics,
        "desiredReplicas": result.desired_replicas,
        "action": str(result.action),
        "actionMessage": result.action_message[:1024],
        "fallbackApplied": result.fallback_applied,
    }
    # An optional key this trace lacks is rendered as null: the status is merge-patched, and
    # a key left out would keep an earlier trace's value (a winner beside a held decision).
    trace["winner"] = winner
    trace["proposedReplicas"] = best if winner is not None else None
    conditions = {condition.type: condition for condition in result.conditions}
    able, limited = conditions.get("AbleToScale"), conditions.get("ScalingLimited")
    trace["stabilizationReason"] = able.reason if able is not None else None
    trace["limitReason"] = limited.reason if limited is not None else None
    trace["limitMessage"] = limited.message[:1024] if limited is not None else None
    trace["explanation"] = (
        [line[:MAX_LINE_LENGTH] for line in result.decision.explanation[:MAX_EXPLANATION_LINES]]
        if result.decision is not None
        else None
    )
    return trace


def carried_over(status: Mapping[str, Any]) -> dict[str, Any]:
    """What ``render_status`` reads of the previous status: its ``lastScaleTime``, and of each
    condition only what ``merge_conditions`` reads (kept for every Autoscaler between
    evaluations, the whole conditions were about 2 KB each, their messages mostly)."""
    return {
        "lastScaleTime": status.get("lastScaleTime"),
        "conditions": condition_states(status.get("conditions") or []),
    }


def condition_states(conditions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Of each condition, what is read of it again: its type, status and transition time (not
    its reason and message, most of its size)."""
    return [
        {key: condition.get(key) for key in ("type", "status", "lastTransitionTime")}
        for condition in conditions
    ]


def one_per_spec_metric(read: Sequence[MetricResult], spec: AutoscalerSpec) -> list[MetricResult]:
    """The results as the HPA's status lists them: one per spec metric, in spec order. At zero
    replicas only some metrics are read (``policy.plan.metrics_to_read``); each other one is
    shown as unknown, as the HPA shows a per-pod metric with no pod to read."""
    if not read or len(read) == len(spec.metrics):
        return list(read)
    by_index = {item.spec.index: item for item in read}
    return [
        by_index.get(metric.index) or MetricResult(metric, MetricOutcome(metric.display_name))
        for metric in spec.metrics
    ]


def render_status(
    result: EvaluationResult,
    spec: AutoscalerSpec,
    previous: Mapping[str, Any],
    generation: int | None,
    pending: PendingRescale | None = None,
) -> dict[str, Any]:
    """The complete status to write after an evaluation, or before its ``/scale`` patch
    (``pending``: that patch, recorded so a crash before the next write cannot lose it; a
    status without one removes the record, the status being merge-patched)."""
    last_scale_time = format_time(result.now) if result.rescaled else previous.get("lastScaleTime")
    shown = one_per_spec_metric(result.metrics, spec)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "reference": result.reference,
        "targets": format_targets(shown),
        "summary": summary(result, spec),
        "currentReplicas": result.current_replicas,
        "desiredReplicas": result.desired_replicas,
        "lastScaleTime": last_scale_time,
        "currentMetrics": [current_metric_status(item) for item in shown],
        "conditions": merge_conditions(
            previous.get("conditions") or [], result.conditions, result.now, generation
        ),
        "lastDecision": _decision_trace(result),
        "stabilization": history_to_status(result.history),
        "consecutiveFailures": result.consecutive_failures,
        # Always written: null removes it (a merge patch) when the streak ends.
        "failingSince": (
            format_time(result.failing_since, precise=True)
            if result.failing_since is not None
            else None
        ),
        "pendingRescale": pending_rescale_to_status(pending) if pending is not None else None,
    }
    if result.last_active is not None:
        status["lastActiveTime"] = format_time(result.last_active)
    return status


def status_digest(status: Mapping[str, Any]) -> bytes:
    """A digest of what ``without_timestamps`` keeps: equal digests, equal statuses but for
    their timestamps (what is kept of a written status to compare with, not the status).

    A rendered status and the one the apiserver stored from it digest alike: the merge patch
    deletes the keys rendered as null, so nulls are left out on both sides."""
    return json_digest(_without_nulls(without_timestamps(status)))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def without_timestamps(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status minus what changes on every evaluation, to decide whether to write.

    The recommendations keep their order but not their timestamps: a steady Autoscaler
    re-makes the same recommendation every period, and the one re-made is the newest, which
    a restarted operator refreshes anyway (``history.resume``).
    """
    copy = {
        key: value
        for key, value in status.items()
        if key not in ("lastDecision", "lastActiveTime")  # moves every period while active
    }
    trace = dict(status.get("lastDecision") or {})
    trace.pop("evaluatedAt", None)
    copy["lastDecision"] = trace
    stabilization = dict(status.get("stabilization") or {})
    stabilization["recommendations"] = [
        item.get("replicas") for item in stabilization.get("recommendations") or []
    ]
    copy["stabilization"] = stabilization
    copy["conditions"] = [
        {k: v for k, v in item.items() if k != "lastTransitionTime"}
        for item in status.get("conditions") or []
    ]
    return copy


def status_key(
    result: EvaluationResult, spec: AutoscalerSpec, generation: int | None
) -> tuple[Any, ...] | None:
    """Everything ``render_status`` turns into what ``without_timestamps`` keeps, unrendered.

    Equal keys mean equal statuses but for timestamps, so a steady Autoscaler can skip the
    render; None (a rescale stamps ``lastScaleTime``) never matches.
    """
    if result.rescaled:
        return None
    history = result.history
    return (
        generation,
        spec,
        result.reference,
        result.current_replicas,
        result.desired_replicas,
        result.action,
        result.action_message,
        result.fallback_applied,
        result.consecutive_failures,
        result.failing_since,
        result.conditions,
        tuple(
            (
                item.spec,
                tuple(item.current.items()),
                item.outcome.proposal.replicas if item.outcome.proposal is not None else None,
                item.outcome.error,
                tuple(item.details.items()),
            )
            for item in result.metrics
        ),
        tuple(result.decision.explanation) if result.decision is not None else None,
        tuple(item.replicas for item in history.recommendations),
        history.scale_up_events,
        history.scale_down_events,
    )


__all__ = ["Action", "format_milli", "render_status", "status_key"]
