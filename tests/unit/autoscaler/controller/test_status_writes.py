"""When a steady Autoscaler's status is written: only when more than timestamps changed."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult, StatusCondition
from podpilot.autoscaler.api.spec import parse_metric, parse_spec
from podpilot.autoscaler.api.status import (
    render_status,
    status_digest,
    status_key,
    without_timestamps,
)
from podpilot.autoscaler.controller.loop import AutoscalerLoop
from podpilot.autoscaler.engine import (
    MetricOutcome,
    ReplicaProposal,
    ScalingHistory,
    TimestampedRecommendation,
)
from podpilot.autoscaler.policy.plan import Memory
from podpilot.settings import STATUS_HEARTBEAT_SECONDS

CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
SPEC = parse_spec(
    {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [CPU],
    }
)
ABLE = StatusCondition("AbleToScale", True, "ReadyForNewScale", "recommended size matches")


def steady(
    now: float, utilization: int = 50, replicas: int = 3, counts: tuple[int, ...] = (3,)
) -> EvaluationResult:
    """One evaluation that keeps ``replicas``, with recommendations re-made at ``now``."""
    metric = parse_metric(CPU, 0)
    proposal = ReplicaProposal(replicas=replicas, current_value=utilization, usage_ratio=1.0)
    history = ScalingHistory(
        tuple(
            TimestampedRecommendation(count, now - len(counts) + i)
            for i, count in enumerate(counts)
        )
    )
    return EvaluationResult(
        now=now,
        current_replicas=replicas,
        desired_replicas=replicas,
        action=Action.NO_CHANGE,
        action_message=f"kept {replicas} replicas",
        conditions=(ABLE,),
        history=history,
        metrics=(
            MetricResult(
                metric,
                MetricOutcome(metric.display_name, proposal),
                current={"averageUtilization": utilization, "averageValue": f"{utilization}m"},
            ),
        ),
        reference="Deployment/web",
    )


def test_recommendation_timestamps_alone_do_not_make_a_status_different() -> None:
    first = render_status(steady(1_800_000_000.0), SPEC, {}, generation=1)
    later = render_status(steady(1_800_000_015.0), SPEC, first, generation=1)
    assert first["stabilization"] != later["stabilization"]  # the timestamps did move
    assert without_timestamps(first) == without_timestamps(later)


def test_a_new_recommended_count_or_order_makes_it_different() -> None:
    first = render_status(steady(1e9, counts=(3,)), SPEC, {}, generation=1)
    added = render_status(steady(1e9 + 15, counts=(3, 4)), SPEC, first, generation=1)
    swapped = render_status(steady(1e9 + 15, counts=(4, 3)), SPEC, first, generation=1)
    assert without_timestamps(first) != without_timestamps(added)
    assert without_timestamps(added) != without_timestamps(swapped)


def test_the_key_of_a_steady_evaluation_ignores_the_clock_but_not_the_reading() -> None:
    assert status_key(steady(1e9), SPEC, 1) == status_key(steady(1e9 + 15), SPEC, 1)
    assert status_key(steady(1e9), SPEC, 1) != status_key(steady(1e9, utilization=60), SPEC, 1)
    assert status_key(steady(1e9), SPEC, 1) != status_key(steady(1e9), SPEC, 2)
    rescaled = dataclasses.replace(steady(1e9), rescaled=True)
    assert status_key(rescaled, SPEC, 1) is None  # lastScaleTime is stamped: always written


@given(
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(1, 10),
    st.integers(1, 10),
    st.lists(st.integers(1, 10), min_size=1, max_size=4, unique=True),
    st.lists(st.integers(1, 10), min_size=1, max_size=4, unique=True),
)
def test_equal_keys_mean_equal_statuses_but_for_timestamps(
    use_a: int,
    use_b: int,
    replicas_a: int,
    replicas_b: int,
    counts_a: list[int],
    counts_b: list[int],
) -> None:
    a = steady(1e9, use_a, replicas_a, tuple(counts_a))
    b = steady(1e9 + 15, use_b, replicas_b, tuple(counts_b))
    status_a = render_status(a, SPEC, {}, generation=1)
    status_b = render_status(b, SPEC, status_a, generation=1)
    if status_key(a, SPEC, 1) == status_key(b, SPEC, 1):
        assert without_timestamps(status_a) == without_timestamps(status_b)
        # What lets a heartbeat of an unchanged status reuse the written digest.
        assert status_digest(status_a) == status_digest(status_b)


@pytest.mark.parametrize("status_heartbeat", [STATUS_HEARTBEAT_SECONDS, 60.0])
def test_heartbeats_are_spread_between_half_and_all_of_the_status_heartbeat(
    status_heartbeat: float,
) -> None:
    beats = [
        AutoscalerLoop("ns", f"app-{i}", Memory(None), status_heartbeat=status_heartbeat).heartbeat
        for i in range(500)
    ]
    assert all(status_heartbeat / 2 <= beat <= status_heartbeat for beat in beats)
    assert max(beats) - min(beats) > status_heartbeat / 3
    again = AutoscalerLoop("ns", "app-1", Memory(None), status_heartbeat=status_heartbeat)
    assert again.heartbeat == beats[1]  # fixed per name
