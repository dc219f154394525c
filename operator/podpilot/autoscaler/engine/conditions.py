"""HPA condition types and reasons, and the condition value the engine returns.

The reason strings are upstream's (``horizontal.go``), so users can look them up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Condition", "ConditionType", "Reason"]


class ConditionType(enum.StrEnum):
    """The three HPA condition types."""

    ABLE_TO_SCALE = "AbleToScale"
    SCALING_ACTIVE = "ScalingActive"
    SCALING_LIMITED = "ScalingLimited"


class Reason(enum.StrEnum):
    """Condition reasons the engine can set."""

    READY_FOR_NEW_SCALE = "ReadyForNewScale"
    SCALE_DOWN_STABILIZED = "ScaleDownStabilized"
    SCALE_UP_STABILIZED = "ScaleUpStabilized"
    VALID_METRIC_FOUND = "ValidMetricFound"
    SCALING_DISABLED = "ScalingDisabled"
    FAILED_GET_RESOURCE_METRIC = "FailedGetResourceMetric"
    FAILED_GET_CONTAINER_RESOURCE_METRIC = "FailedGetContainerResourceMetric"
    FAILED_GET_PODS_METRIC = "FailedGetPodsMetric"
    FAILED_GET_OBJECT_METRIC = "FailedGetObjectMetric"
    FAILED_GET_EXTERNAL_METRIC = "FailedGetExternalMetric"
    FAILED_GET_PROMETHEUS_METRIC = "FailedGetPrometheusMetric"  # podpilot's Prometheus type
    INVALID_METRIC_SOURCE_TYPE = "InvalidMetricSourceType"
    DESIRED_WITHIN_RANGE = "DesiredWithinRange"
    TOO_MANY_REPLICAS = "TooManyReplicas"
    TOO_FEW_REPLICAS = "TooFewReplicas"
    SCALE_UP_LIMIT = "ScaleUpLimit"
    SCALE_DOWN_LIMIT = "ScaleDownLimit"


@dataclass(frozen=True, slots=True)
class Condition:
    """One HPA-style condition to write into status."""

    type: ConditionType
    status: bool
    reason: Reason
    message: str

    def describe(self) -> str:
        """One line, e.g. ``ScalingLimited=True (ScaleUpLimit): ...``."""
        return f"{self.type}={self.status} ({self.reason}): {self.message}"
