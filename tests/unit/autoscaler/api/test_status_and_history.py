"""Status rendering, history compaction and restart, backoff, explanation: pure logic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podpilot.apimachinery.backoff import TokenBucket, exponential_delay, retry_delay
from podpilot.autoscaler.api import history as history_tools
from podpilot.autoscaler.api.explanation import explain
from podpilot.autoscaler.api.pods import cached_pod
from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult, StatusCondition
from podpilot.autoscaler.api.spec import parse_metric, parse_spec
from podpilot.autoscaler.api.status import (
    format_targets,
    history_from_status,
    history_to_status,
    merge_conditions,
    render_status,
    status_digest,
)
from podpilot.autoscaler.engine import (
    MetricOutcome,
    PodPhase,
    ReplicaProposal,
    ScaleEvent,
    ScalingHistory,
    TimestampedRecommendation,
)
from podpilot.autoscaler.engine.stabilization import stabilize_recommendation

CPU = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
}
QUEUE = {
    "type": "External",
    "external": {
        "metric": {"name": "queue"},
        "target": {"type": "AverageValue", "averageValue": "30"},
    },
}
RPS = {
    "type": "Pods",
    "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
}


def result_for(raw: dict, current: dict, replicas: int = 3) -> MetricResult:
    spec = parse_metric(raw, 0)
    proposal = ReplicaProposal(replicas=replicas, current_value=0, usage_ratio=1.0)
    return MetricResult(spec, MetricOutcome(spec.display_name, proposal), current=current)


def test_targets_column_words_metrics_like_kubectl_get_hpa() -> None:
    cpu = result_for(CPU, {"averageUtilization": 45, "averageValue": "45m"})
    queue = result_for(QUEUE, {"averageValue": "12"})
    rps = result_for(RPS, {"averageValue": "7500m"})
    assert format_targets([cpu]) == "cpu: 45%/50%"
    assert format_targets([queue]) == "12/30 (avg)"
    assert format_targets([cpu, queue, rps]) == "cpu: 45%/50%, 12/30 (avg) + 1 more..."
    failed = MetricResult(parse_metric(CPU, 0), MetricOutcome.failed("cpu", "x", "boom"))  # type: ignore[arg-type]
    assert format_targets([failed]) == "cpu: <unknown>/50%"


def test_a_decision_at_zero_names_each_metric_by_its_place_in_the_spec() -> None:
    """At zero only the queue is read (the cpu metric has no pod): the trace still calls it
    metric 1, as ``spec.metrics`` does, and so does explain; the status lists both."""
    spec = parse_spec(
        {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
         "minReplicas": 0, "maxReplicas": 5, "metrics": [CPU, QUEUE]}
    )  # fmt: skip
    queue = spec.metrics[1]
    proposal = ReplicaProposal(replicas=2, current_value=0, usage_ratio=1.0)
    result = EvaluationResult(
        now=1_800_000_000.0,
        current_replicas=0,
        desired_replicas=2,
        action=Action.RESCALED,
        action_message="scaled 0 -> 2",
        conditions=(),
        history=ScalingHistory(),
        metrics=(MetricResult(queue, MetricOutcome(queue.display_name, proposal)),),
        reference="Deployment/web",
    )
    status = render_status(result, spec, {}, generation=1)
    trace = status["lastDecision"]
    assert [(item["index"], item["type"]) for item in trace["metrics"]] == [(1, "External")]
    # As the HPA's status: one entry per spec metric, the one not read unknown.
    assert [item["type"] for item in status["currentMetrics"]] == ["Resource", "External"]
    assert status["targets"].startswith("cpu: <unknown>/50%, ")
    assert trace["winner"] == 1
    text = explain({"metadata": {"name": "web"}, "spec": {"maxReplicas": 5}, "status": {
        "lastDecision": trace}})  # fmt: skip
    assert "metric 1 External" in text and "(winner)" in text


def test_condition_transition_time_moves_only_when_status_flips() -> None:
    previous = [{"type": "AbleToScale", "status": "True", "reason": "A", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]  # fmt: skip
    same = merge_conditions(previous, [StatusCondition("AbleToScale", True, "B", "m")], 1e9)
    flipped = merge_conditions(previous, [StatusCondition("AbleToScale", False, "C", "m")], 1e9)
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and same[0]["reason"] == "B"
    assert flipped[0]["lastTransitionTime"] == "2001-09-09T01:46:40Z"


def test_each_condition_carries_the_generation_it_was_decided_from() -> None:
    previous = [{"type": "AbleToScale", "status": "True", "reason": "A", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z",
                 "observedGeneration": 2}]  # fmt: skip
    new = [StatusCondition("AbleToScale", True, "A", ""), StatusCondition("Paused", True, "P", "")]
    merged = merge_conditions(previous, new, 1e9, generation=3)
    assert [item["observedGeneration"] for item in merged] == [3, 3]
    # Same status under a new generation: the transition time stays, the generation moves.
    assert merged[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    unknown = merge_conditions(previous, new, 1e9, generation=None)
    assert all("observedGeneration" not in item for item in unknown)


recommendations = st.lists(
    st.tuples(st.integers(1, 20), st.floats(0, 10_000, allow_nan=False)), min_size=1, max_size=40
)


@given(recommendations, st.integers(1, 20), st.floats(0, 600))
def test_compaction_never_changes_a_stabilized_recommendation(
    pairs: list[tuple[int, float]], desired: int, window: float
) -> None:
    history = ScalingHistory(tuple(TimestampedRecommendation(r, t) for r, t in pairs))
    compacted = history_tools.compact(history)
    now = max(t for _, t in pairs) + 1
    full = stabilize_recommendation(
        history.recommendations, desired, now=now, downscale_stabilization_window=window
    )
    small = stabilize_recommendation(
        compacted.recommendations, desired, now=now, downscale_stabilization_window=window
    )
    assert full.replicas == small.replicas
    assert len({r.replicas for r in compacted.recommendations}) == len(compacted.recommendations)


def test_history_survives_status_round_trip_and_resume_refreshes_the_newest() -> None:
    history = ScalingHistory(
        (TimestampedRecommendation(6, 1000.5), TimestampedRecommendation(4, 1010.25)),
        scale_up_events=(ScaleEvent(2, 990.0),),
        scale_down_events=(ScaleEvent(1, 995.0, outdated=True),),
    )
    stored = history_from_status(history_to_status(history))
    assert stored == history
    resumed = history_tools.resume(history, 2000.0)
    assert {(r.replicas, r.timestamp) for r in resumed.recommendations} == {
        (6, 1000.5),
        (4, 2000.0),
    }


def test_exponential_backoff_is_bounded_and_the_bucket_paces_bursts() -> None:
    assert [exponential_delay(n, 5, 60) for n in range(5)] == [0.0, 5, 10, 20, 40]
    assert exponential_delay(50, 5, 60) == 60
    bucket = TokenBucket(rate=2.0, burst=3)
    delays = [retry_delay(1, bucket, 0.0, base=0.0, cap=0.0) for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_pod_conversion_reads_requests_readiness_and_phase() -> None:
    cached = cached_pod(
        {
            "metadata": {"name": "web-1", "labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "app", "resources": {"requests": {"cpu": "250m"}}}],
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            },
            "status": {
                "phase": "Running",
                "startTime": "2026-11-25T10:00:00Z",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastTransitionTime": "2026-11-25T10:00:05Z",
                    }
                ],
            },
        }
    )
    assert cached.labels == {"app": "web"}
    info = cached.info
    assert info.phase is PodPhase.RUNNING and not info.deleted
    assert info.containers[0].requests == {"cpu": 250}
    assert info.init_containers[0].restartable_init
    assert info.ready is not None and info.ready.status is True
    assert info.start_time is not None and info.ready.last_transition_time - info.start_time == 5


def test_rendered_status_carries_the_decision_trace_and_explain_tells_it() -> None:
    spec = parse_spec(
        {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
         "minReplicas": 1, "maxReplicas": 5, "metrics": [CPU]}
    )  # fmt: skip
    result = EvaluationResult(
        now=1_800_000_000.0,
        current_replicas=2,
        desired_replicas=3,
        action=Action.RESCALED,
        action_message="scaled 2 -> 3",
        conditions=(StatusCondition("AbleToScale", True, "SucceededRescale", "ok"),),
        history=ScalingHistory((TimestampedRecommendation(3, 1_800_000_000.0),)),
        metrics=(result_for(CPU, {"averageUtilization": 75, "averageValue": "75m"}),),
        rescaled=True,
        reference="Deployment/web",
    )
    status = render_status(result, spec, {}, generation=4)
    assert status["observedGeneration"] == 4
    assert [item["observedGeneration"] for item in status["conditions"]] == [4]
    assert status["targets"] == "cpu: 75%/50%"
    assert status["summary"] == "Ready"
    assert status["lastScaleTime"] == "2027-01-15T08:00:00Z"
    assert status["lastDecision"]["winner"] == 0
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 75
    text = explain({"metadata": {"name": "web"}, "spec": {"maxReplicas": 5}, "status": status})
    assert "Deployment/web" in text and "proposes 3 (winner)" in text and "Rescaled" in text
    # The time shown is when the decision was written, which a steady one is only at the
    # status heartbeat: said so, or an old time reads as a stalled operator.
    assert "Decision written at 2027-01-15T08:00:00" in text and "status heartbeat" in text


def merge_patched(stored: dict, patch: dict) -> dict:
    """``patch`` applied to ``stored`` as the API server applies a JSON merge patch."""
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patched(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_a_held_decision_after_a_winning_one_leaves_no_winner_stored() -> None:
    """A decision with a winner, then one whose metric failed: merge-patched, the stored trace
    must hold no winner, proposal or reasons of the first (the status would show a winner
    beside a held decision), and digest as the status written, as the watch compares them."""
    spec = parse_spec(
        {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
         "minReplicas": 1, "maxReplicas": 5, "metrics": [CPU]}
    )  # fmt: skip
    winning = EvaluationResult(
        now=1_800_000_000.0,
        current_replicas=2,
        desired_replicas=3,
        action=Action.RESCALED,
        action_message="scaled 2 -> 3",
        conditions=(
            StatusCondition("AbleToScale", True, "SucceededRescale", "ok"),
            StatusCondition("ScalingLimited", False, "DesiredWithinRange", "in range"),
        ),
        history=ScalingHistory(),
        metrics=(result_for(CPU, {"averageUtilization": 75, "averageValue": "75m"}),),
        reference="Deployment/web",
    )
    failed_cpu = MetricResult(spec.metrics[0], MetricOutcome.failed("cpu", "x", "boom"))  # type: ignore[arg-type]
    held = EvaluationResult(
        now=1_800_000_060.0,
        current_replicas=3,
        desired_replicas=3,
        action=Action.HELD,
        action_message="held 3",
        conditions=(),
        history=ScalingHistory(),
        metrics=(failed_cpu,),
        reference="Deployment/web",
    )
    first = render_status(winning, spec, {}, generation=1)
    assert first["lastDecision"]["winner"] == 0
    second = render_status(held, spec, {}, generation=1)
    stored = merge_patched(merge_patched({}, first), second)
    trace = stored["lastDecision"]
    for key in ("winner", "proposedReplicas", "stabilizationReason", "limitReason"):
        assert key not in trace, key
    assert status_digest(stored) == status_digest(second)
