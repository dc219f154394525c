"""What one evaluation of an Autoscaler produced: plain values the status and events use."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podpilot.autoscaler.engine import Condition, Decision, MetricOutcome, ScalingHistory

from .spec import MetricSpec
from .takeover import TakeoverSeed


class Action(enum.StrEnum):
    RESCALED = "Rescaled"
    NO_CHANGE = "NoChange"
    DRY_RUN = "DryRun"
    PAUSED = "Paused"
    HELD = "Held"
    FAILED = "Failed"


@dataclass(frozen=True)
class MetricResult:
    """One spec metric: what was read (HPA ``MetricStatus.current``) and what it proposed."""

    spec: MetricSpec
    outcome: MetricOutcome
    current: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    value: int | None = None  # the metric's total in milli-units (Object, External, Prometheus)
    internal_error: bool = False  # failed on an unexpected exception, not a source's error


@dataclass(frozen=True)
class StatusCondition:
    """A condition as written to status; the engine's conditions convert to it."""

    type: str
    status: bool
    reason: str
    message: str

    @classmethod
    def from_engine(cls, condition: Condition) -> StatusCondition:
        return cls(str(condition.type), condition.status, str(condition.reason), condition.message)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the Autoscaler (HPA reasons)."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one evaluation decided and did."""

    now: float
    current_replicas: int
    desired_replicas: int
    action: Action
    action_message: str
    conditions: tuple[StatusCondition, ...]
    history: ScalingHistory
    metrics: tuple[MetricResult, ...] = ()
    decision: Decision | None = None
    rescaled: bool = False
    consecutive_failures: int = 0
    failing_since: float | None = None  # first evaluation of the current failing streak
    fallback_applied: bool = False
    events: tuple[Event, ...] = ()
    reference: str = ""
    last_active: float | None = None
    # The step (read, decide, act) an unexpected exception failed, None when none did.
    error_stage: str | None = None
    # The takeover seed this evaluation folded into its history (takeover_from.py), if any.
    takeover_seed: TakeoverSeed | None = None
    # The target is at zero because this Autoscaler's own patch put it there (ScaledToZero).
    zeroed: bool = False
