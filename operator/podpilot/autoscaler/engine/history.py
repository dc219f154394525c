"""Stabilization recommendations and scale events, as values a controller can persist.

Upstream keeps these in controller maps, lost on restart. Here they are immutable
values passed in and returned; ``to_dict``/``from_dict`` give plain JSON-ready dicts so
a controller can store them in its custom resource's status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ScaleEvent", "ScalingHistory", "TimestampedRecommendation", "reuse_slot"]

Entry = TypeVar("Entry")


def reuse_slot(entries: Sequence[Entry], index: int | None, new: Entry) -> tuple[Entry, ...]:
    """``new`` in place of the entry at ``index`` (one no window needs any more), or appended
    when there is none: upstream's way of storing recommendations and scale events."""
    if index is None:
        return (*entries, new)
    updated = list(entries)
    updated[index] = new
    return tuple(updated)


@dataclass(frozen=True, slots=True)
class TimestampedRecommendation:
    """An unstabilized replica proposal and when it was made (``timestampedRecommendation``)."""

    replicas: int
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        """Plain form: ``{"replicas": int, "timestamp": float}``."""
        return {"replicas": self.replicas, "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimestampedRecommendation:
        """Inverse of ``to_dict``."""
        return cls(replicas=int(data["replicas"]), timestamp=float(data["timestamp"]))


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    """One rescale in one direction (``timestampedScaleEvent``).

    Attributes:
        replica_change: Size of the change, never negative.
        timestamp: When it happened (epoch seconds).
        outdated: Older than the direction's longest policy period; the slot may be reused.
    """

    replica_change: int
    timestamp: float
    outdated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain form: ``{"replicaChange": int, "timestamp": float, "outdated": bool}``."""
        return {
            "replicaChange": self.replica_change,
            "timestamp": self.timestamp,
            "outdated": self.outdated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaleEvent:
        """Inverse of ``to_dict``."""
        return cls(
            replica_change=int(data["replicaChange"]),
            timestamp=float(data["timestamp"]),
            outdated=bool(data.get("outdated", False)),
        )


@dataclass(frozen=True, slots=True)
class ScalingHistory:
    """Everything the engine remembers between decisions for one autoscaler.

    Attributes:
        recommendations: Recent unstabilized proposals (both normalization paths).
        scale_up_events: Recent scale-ups (behavior path only).
        scale_down_events: Recent scale-downs (behavior path only).
    """

    recommendations: tuple[TimestampedRecommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()

    @classmethod
    def seeded(cls, current_replicas: int, now: float) -> ScalingHistory:
        """The history upstream starts with when it first sees an autoscaler."""
        return cls(recommendations=(TimestampedRecommendation(current_replicas, now),))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (camelCase keys, as in a Kubernetes status)."""
        return {
            "recommendations": [item.to_dict() for item in self.recommendations],
            "scaleUpEvents": [item.to_dict() for item in self.scale_up_events],
            "scaleDownEvents": [item.to_dict() for item in self.scale_down_events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScalingHistory:
        """Inverse of ``to_dict``; missing keys mean empty lists."""
        return cls(
            recommendations=tuple(
                TimestampedRecommendation.from_dict(item)
                for item in data.get("recommendations", ())
            ),
            scale_up_events=tuple(
                ScaleEvent.from_dict(item) for item in data.get("scaleUpEvents", ())
            ),
            scale_down_events=tuple(
                ScaleEvent.from_dict(item) for item in data.get("scaleDownEvents", ())
            ),
        )
