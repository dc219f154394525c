"""``ReplicaProposal.within_tolerance``: set exactly when the tolerance band kept the count."""

from __future__ import annotations

from podpilot.autoscaler.engine import (
    PodInfo,
    PodMetric,
    external_per_pod_metric_replicas,
    object_metric_replicas,
    plain_metric_replicas,
)
from podpilot.autoscaler.engine.model import ReadyCondition

NOW = 1_700_000_000.0
READY = ReadyCondition(True, NOW - 600)


def pods(count: int) -> list[PodInfo]:
    return [PodInfo(f"pod-{index}", ready=READY, start_time=NOW - 600) for index in range(count)]


def per_pod(values: list[int]) -> dict[str, PodMetric]:
    return {f"pod-{index}": PodMetric(value) for index, value in enumerate(values)}


def test_a_pods_metric_inside_and_outside_the_band() -> None:
    inside = plain_metric_replicas(current_replicas=3, target_usage=1000, pods=pods(3),
                                   metrics=per_pod([1050, 1050, 1050]), now=NOW)  # fmt: skip
    outside = plain_metric_replicas(current_replicas=3, target_usage=1000, pods=pods(3),
                                    metrics=per_pod([2000, 2000, 2000]), now=NOW)  # fmt: skip
    assert (inside.replicas, inside.within_tolerance) == (3, True)
    assert (outside.replicas, outside.within_tolerance) == (6, False)


def test_the_rebalanced_ratio_inside_the_band_with_a_pod_missing() -> None:
    # pod-2 has no sample: on this scale-down it counts at the target, and the rebalanced
    # ratio (950 + 950 + 1000) / 3000 is inside the band.
    proposal = plain_metric_replicas(current_replicas=3, target_usage=1000, pods=pods(3),
                                     metrics=per_pod([850, 850]), now=NOW)  # fmt: skip
    assert (proposal.replicas, proposal.within_tolerance) == (3, True)


def test_an_object_value_from_zero_replicas_has_no_tolerance() -> None:
    # From zero the ratio is applied without the band (getUsageRatioReplicaCount).
    proposal = object_metric_replicas(current_replicas=0, target_value=1000, value=1050,
                                      pods=[])  # fmt: skip
    assert (proposal.replicas, proposal.within_tolerance) == (2, False)
    above = object_metric_replicas(current_replicas=2, target_value=1000, value=1050,
                                   pods=pods(2))  # fmt: skip
    assert (above.replicas, above.within_tolerance) == (2, True)


def test_an_external_average_value_inside_the_band() -> None:
    proposal = external_per_pod_metric_replicas(status_replicas=4, target_average_value=1000,
                                                values=[4100])  # fmt: skip
    assert (proposal.replicas, proposal.within_tolerance) == (4, True)
