"""Scale-to-zero rules of the ``HPAScaleToZero`` feature (alpha upstream).

``minReplicas: 0`` is accepted only with the feature on and at least one Object or
External metric (``validateMetrics`` in ``pkg/apis/autoscaling/validation``). A target
at 0 replicas is left alone unless ``minReplicas`` is 0 (``ScalingDisabled``); from
zero, Object and External Value metrics propose ``ceil(ratio)`` (see
``replica_calculator.usage_ratio_replica_count``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SCALE_TO_ZERO_SOURCE_TYPES", "scaling_disabled", "validate_min_replicas"]

SCALE_TO_ZERO_SOURCE_TYPES = frozenset({"Object", "External"})


def validate_min_replicas(
    min_replicas: int | None, metric_source_types: Iterable[str], *, scale_to_zero_enabled: bool
) -> list[str]:
    """Return the validation errors upstream's API server gives for ``minReplicas``.

    Args:
        min_replicas: ``spec.minReplicas`` (None when unset, meaning 1).
        metric_source_types: The ``type`` of each entry of ``spec.metrics``.
        scale_to_zero_enabled: Whether ``HPAScaleToZero`` is on.

    Returns:
        Error messages; empty when valid.
    """
    if min_replicas is None:
        return []
    lower_bound = 0 if scale_to_zero_enabled else 1
    if min_replicas < lower_bound:
        return [f"minReplicas: must be greater than or equal to {lower_bound}"]
    if min_replicas == 0 and not SCALE_TO_ZERO_SOURCE_TYPES.intersection(metric_source_types):
        return [
            "metrics: must specify at least one Object or External metric "
            "to support scaling to zero replicas"
        ]
    return []


def scaling_disabled(current_replicas: int, min_replicas: int) -> bool:
    """True when the target sits at 0 replicas and ``minReplicas`` is not 0.

    Upstream then sets ``ScalingActive=False`` (``ScalingDisabled``) and does nothing.
    """
    return current_replicas == 0 and min_replicas != 0
