"""Property tests of the engine (hypothesis), plus the history round trip."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from podpilot.autoscaler.engine import (
    Behavior,
    MetricOutcome,
    PodInfo,
    PodMetric,
    PolicyType,
    Reason,
    ReplicaProposal,
    ScaleEvent,
    ScalingHistory,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    TimestampedRecommendation,
    Tolerances,
    decide,
    plain_metric_replicas,
    record_rescale,
)
from podpilot.autoscaler.engine.stabilization import (
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
)

from .helpers import NOW

replica_counts = st.integers(min_value=0, max_value=500)
recommendations = st.lists(
    st.builds(
        TimestampedRecommendation,
        replicas=replica_counts,
        timestamp=st.floats(min_value=NOW - 3600, max_value=NOW),
    ),
    max_size=8,
).map(tuple)
events = st.lists(
    st.builds(
        ScaleEvent,
        replica_change=st.integers(min_value=0, max_value=50),
        timestamp=st.floats(min_value=NOW - 600, max_value=NOW),
        outdated=st.booleans(),
    ),
    max_size=6,
).map(tuple)
policies = st.lists(
    st.builds(
        ScalingPolicy,
        type=st.sampled_from(PolicyType),
        value=st.integers(min_value=1, max_value=1000),
        period_seconds=st.integers(min_value=1, max_value=1800),
    ),
    min_size=1,
    max_size=3,
).map(tuple)
rules = st.one_of(
    st.none(),
    st.builds(
        ScalingRules,
        stabilization_window_seconds=st.one_of(st.none(), st.integers(0, 3600)),
        select_policy=st.one_of(st.none(), st.sampled_from(SelectPolicy)),
        policies=st.one_of(st.none(), policies),
    ),
)
behaviors = st.one_of(st.none(), st.builds(Behavior, scale_up=rules, scale_down=rules))
histories = st.builds(
    ScalingHistory,
    recommendations=recommendations,
    scale_up_events=events,
    scale_down_events=events,
)


def outcome(replicas: int) -> MetricOutcome:
    return MetricOutcome("test metric", ReplicaProposal(replicas, 0, 1.0))


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, object]:
    minimum = draw(st.integers(min_value=1, max_value=50))
    maximum = draw(st.integers(min_value=minimum, max_value=200))
    current = draw(st.integers(min_value=minimum, max_value=maximum))
    proposals = draw(st.lists(replica_counts, min_size=1, max_size=3))
    return {
        "current_replicas": current,
        "min_replicas": minimum,
        "max_replicas": maximum,
        "metrics": tuple(outcome(value) for value in proposals),
        "history": draw(histories),
        "behavior": draw(behaviors),
        "now": NOW,
    }


@settings(max_examples=300)
@given(decisions())
def test_result_is_always_within_min_and_max(arguments: dict[str, object]) -> None:
    decision = decide(**arguments)  # type: ignore[arg-type]
    assert arguments["min_replicas"] <= decision.desired_replicas <= arguments["max_replicas"]  # type: ignore[operator]


@settings(max_examples=300)
@given(decisions(), st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=50))
def test_out_of_bounds_current_resets_to_the_bound(
    arguments: dict[str, object], below: int, above: int
) -> None:
    minimum, maximum = arguments["min_replicas"], arguments["max_replicas"]
    assert isinstance(minimum, int)
    assert isinstance(maximum, int)
    too_many = decide(**{**arguments, "current_replicas": maximum + above})  # type: ignore[arg-type]
    assert (too_many.desired_replicas, too_many.rescale) == (maximum, True)
    if below < minimum:
        too_few = decide(**{**arguments, "current_replicas": below})  # type: ignore[arg-type]
        # At 0 replicas with minReplicas >= 1 upstream leaves the target alone.
        expected = below if below == 0 else minimum
        assert too_few.desired_replicas == expected


@settings(max_examples=300)
@given(decisions())
def test_scale_down_never_happens_while_a_metric_is_invalid(arguments: dict[str, object]) -> None:
    metrics = arguments["metrics"]
    assert isinstance(metrics, tuple)
    failed = MetricOutcome.failed("broken", Reason.FAILED_GET_PODS_METRIC, "no metrics")
    decision = decide(**{**arguments, "metrics": (*metrics, failed)})  # type: ignore[arg-type]
    assert decision.desired_replicas >= arguments["current_replicas"]  # type: ignore[operator]


@settings(max_examples=300)
@given(decisions())
def test_engine_is_deterministic(arguments: dict[str, object]) -> None:
    assert decide(**arguments) == decide(**arguments)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=10**6),
    st.floats(min_value=0.0, max_value=0.5),
    st.floats(min_value=0.0, max_value=0.5),
    st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=20),
)
def test_no_change_inside_the_tolerance_band(
    current: int, target: int, down: float, up: float, spread: list[int]
) -> None:
    # Every pod reports a value whose average lands inside the band.
    pods = [PodInfo(f"pod-{index}") for index in range(len(spread))]
    values = [target * (900 + share) // 1000 for share in spread]
    metrics = {pod.name: PodMetric(value) for pod, value in zip(pods, values, strict=True)}
    tolerances = Tolerances(down, up)
    average = sum(values) // len(values)
    if not tolerances.is_within(average / target):
        return
    proposal = plain_metric_replicas(
        current_replicas=current,
        target_usage=target,
        pods=pods,
        metrics=metrics,
        now=NOW,
        tolerances=tolerances,
    )
    assert proposal.replicas == current
    assert proposal.within_tolerance  # the reason it stayed, as a value


@settings(max_examples=300)
@given(recommendations, replica_counts, st.integers(min_value=0, max_value=3600))
def test_legacy_stabilization_never_goes_below_the_window_maximum(
    history: tuple[TimestampedRecommendation, ...], desired: int, window: int
) -> None:
    result = stabilize_recommendation(
        history, desired, now=NOW, downscale_stabilization_window=window
    )
    in_window = [item.replicas for item in history if item.timestamp >= NOW - window]
    assert result.replicas == max([desired, *in_window])


@settings(max_examples=300)
@given(
    recommendations,
    replica_counts,
    replica_counts,
    st.integers(min_value=0, max_value=3600),
    st.integers(min_value=0, max_value=3600),
)
def test_behavior_stabilization_respects_the_scale_down_window(
    history: tuple[TimestampedRecommendation, ...],
    current: int,
    desired: int,
    up_window: int,
    down_window: int,
) -> None:
    result = stabilize_recommendation_with_behaviors(
        history,
        current_replicas=current,
        desired_replicas=desired,
        scale_up_window=up_window,
        scale_down_window=down_window,
        now=NOW,
    )
    highest_in_down_window = max(
        [desired, *(item.replicas for item in history if item.timestamp > NOW - down_window)]
    )
    # A scale-down may go no lower than the highest recommendation of the window.
    assert result.replicas >= min(current, highest_in_down_window)


@settings(max_examples=200)
@given(histories, behaviors, replica_counts, replica_counts)
def test_history_round_trips_through_plain_json(
    history: ScalingHistory, behavior: Behavior | None, previous: int, new: int
) -> None:
    recorded = record_rescale(
        history, behavior, previous_replicas=previous, new_replicas=new, now=NOW
    )
    for value in (history, recorded):
        assert ScalingHistory.from_dict(json.loads(json.dumps(value.to_dict()))) == value


def test_decision_explains_each_metric_the_winner_and_the_limits() -> None:
    decision = decide(
        current_replicas=10,
        min_replicas=1,
        max_replicas=12,
        metrics=(outcome(30), outcome(14)),
        history=ScalingHistory.seeded(10, NOW - 60),
        now=NOW,
    )
    text = decision.render()
    assert decision.desired_replicas == 12
    assert "metric test metric: proposes 30" in text
    assert "highest proposal: 30" in text
    assert "TooManyReplicas" in text
    assert decision.rescale_reason == "test metric above target"
