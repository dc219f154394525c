"""Scale-to-zero rule of the ``HPAScaleToZero`` feature (alpha upstream).

A target at 0 replicas is left alone unless ``minReplicas`` is 0 (``ScalingDisabled``); from
zero, Object and External Value metrics propose ``ceil(ratio)`` (see
``replica_calculator.usage_ratio_replica_count``). Which specs may set ``minReplicas: 0`` is the
spec's check (``api.spec``, with the metric types that can wake a workload).
"""

from __future__ import annotations

__all__ = ["scaling_disabled"]


def scaling_disabled(current_replicas: int, min_replicas: int) -> bool:
    """True when the target sits at 0 replicas and ``minReplicas`` is not 0.

    Upstream then sets ``ScalingActive=False`` (``ScalingDisabled``) and does nothing.
    """
    return current_replicas == 0 and min_replicas != 0
