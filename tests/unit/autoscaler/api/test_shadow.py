"""The shadow comparison: when an HPA's status is comparable, and the tally it keeps."""

from __future__ import annotations

from typing import Any

import pytest

from podpilot.autoscaler.api.explanation import explain
from podpilot.autoscaler.api.owners import HpaTarget, OwnerIndex, ScaleTarget, hpa_target
from podpilot.autoscaler.api.result import Action, EvaluationResult
from podpilot.autoscaler.api.shadow import (
    HpaState,
    ShadowTally,
    describe_hpa_metrics,
    hpa_state,
    tally_after,
    tally_from_status,
    tally_to_status,
)
from podpilot.autoscaler.engine import Decision, ScalingHistory

NOW = 1_800_000_000.0
ACTIVE = (
    ("AbleToScale", "True", "ReadyForNewScale"),
    ("ScalingActive", "True", "ValidMetricFound"),
)


def hpa_object(desired: int, *, generation: int = 2, observed: int | None = 2) -> dict[str, Any]:
    status: dict[str, Any] = {
        "currentReplicas": 3,
        "desiredReplicas": desired,
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ScaleDownStabilized"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
        ],
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": 75,
                                                        "averageValue": "150m"}},
            }
        ],
    }  # fmt: skip
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "metadata": {"name": "web", "namespace": "shop", "generation": generation},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}},
        "status": status,
    }


def evaluation(desired: int, action: Action = Action.DRY_RUN) -> EvaluationResult:
    decision = Decision(3, desired, desired != 3, "cpu above target", (), ScalingHistory(), ())
    return EvaluationResult(
        now=NOW,
        current_replicas=3,
        desired_replicas=desired,
        action=action,
        action_message=f"dry run: would scale 3 -> {desired}",
        conditions=(),
        history=ScalingHistory(),
        decision=decision if action is not Action.FAILED else None,
    )


def test_the_watch_keeps_the_hpa_status_the_comparison_needs() -> None:
    state = hpa_state(hpa_object(4))
    assert state.desired_replicas == 4
    assert state.current_replicas == 3
    assert state.comparable
    assert state.reason == (
        "AbleToScale=True (ScaleDownStabilized); ScalingActive=True (ValidMetricFound)"
    )
    assert state.current_metrics == "Resource cpu: 75%, 150m"
    assert hpa_target(hpa_object(4)).state == state


@pytest.mark.parametrize(
    ("hpa", "comparable"),
    [
        (HpaState(2, 2, 3, 4, ACTIVE), True),
        (HpaState(3, 2, 3, 4, ACTIVE), False),  # has not seen its current spec yet
        (HpaState(2, None, 3, 4, ACTIVE), True),  # kube-controller-manager writes none
        (HpaState(2, 2, 3, None, ACTIVE), False),  # no desired count
        (HpaState(2, 2, 3, 4, (("ScalingActive", "False", "FailedGetResourceMetric"),)), False),
    ],
    ids=["synced", "new-generation", "no-observed-generation", "no-desired", "metrics-failing"],
)
def test_an_hpa_is_comparable_only_when_it_computed_from_metrics_for_its_spec(
    hpa: HpaState, comparable: bool
) -> None:
    assert hpa.comparable is comparable


def test_the_tally_counts_agreements_and_keeps_the_last_disagreement() -> None:
    hpa = hpa_state(hpa_object(4))
    tally = tally_after(None, "web", hpa, evaluation(4), "cpu: 75%/50%")
    assert (tally.evaluations, tally.agreed, tally.skipped) == (1, 1, 0)
    tally = tally_after(tally, "web", hpa, evaluation(5), "cpu: 90%/50%")
    assert (tally.evaluations, tally.agreed) == (2, 1)
    assert tally.agreement_ratio == 0.5
    last = tally.last_disagreement
    assert last is not None
    assert (last.ours, last.hpa, last.our_metrics) == (5, 4, "cpu: 90%/50%")
    assert "ScaleDownStabilized" in last.hpa_reason
    assert last.hpa_metrics == "Resource cpu: 75%, 150m"


def test_evaluations_that_cannot_be_compared_are_skipped_not_counted() -> None:
    stale = hpa_state(hpa_object(4, generation=3))
    tally = tally_after(None, "web", stale, evaluation(9), "")
    failed = tally_after(tally, "web", hpa_state(hpa_object(4)), evaluation(3, Action.FAILED), "")
    assert (failed.evaluations, failed.agreed, failed.skipped) == (0, 0, 2)
    assert failed.agreement_ratio is None


def test_a_tally_of_another_hpa_starts_again() -> None:
    old = ShadowTally("old", 10, 9, 1)
    assert tally_after(old, "web", hpa_state(hpa_object(4)), evaluation(4), "") == ShadowTally(
        "web", 1, 1, 0
    )


def test_the_tally_survives_its_status_round_trip_and_explain_tells_it() -> None:
    hpa = hpa_state(hpa_object(4))
    tally = tally_after(ShadowTally("web", 9, 9), "web", hpa, evaluation(6), "cpu: 99%/50%")
    status = tally_to_status(tally)
    assert status["agreementRatio"] == "0.900"
    assert status["lastDisagreement"]["ours"]["replicas"] == 6
    assert status["lastDisagreement"]["hpa"]["replicas"] == 4
    assert tally_from_status(status) == tally
    assert tally_from_status(None) is None
    text = explain(
        {
            "metadata": {"name": "web"},
            "spec": {"mode": "DryRun"},
            "status": {"lastDecision": {"evaluatedAt": "x"}, "shadow": status},
        }
    )
    assert "Shadowing HPA web: agreed 9 of 10 comparable evaluations (90.0%)" in text
    assert "HPA 4 (AbleToScale=True (ScaleDownStabilized)" in text
    active = explain(
        {
            "metadata": {"name": "web"},
            "spec": {"mode": "Active"},
            "status": {"lastDecision": {"evaluatedAt": "x"}, "shadow": status},
        }
    )
    assert "Shadowed (before it became Active) HPA web: agreed 9 of 10" in active


def test_metrics_in_words_cover_each_hpa_metric_type() -> None:
    metrics = [
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "7"}}},
        {"type": "External", "external": {"metric": {"name": "queue"}, "current": {"value": "30"}}},
        {"type": "Object", "object": {"metric": {"name": "hits"}, "current": {}}},
    ]
    assert describe_hpa_metrics(metrics) == (
        "Pods rps: 7; External queue: 30; Object hits: <unknown>"
    )


def test_the_owner_index_finds_the_hpa_of_a_target_with_its_state() -> None:
    index = OwnerIndex()
    target = ScaleTarget("shop", "Deployment", "web")
    assert index.hpa(target) is None
    index.put(("shop", "web-b"), HpaTarget("Deployment", "web", HpaState(desired_replicas=2)))
    index.put(("shop", "web-a"), HpaTarget("Deployment", "web", HpaState(desired_replicas=5)))
    index.claim("shop", "mine", "Deployment", "web", active=True)
    assert index.hpa(target) == ("web-a", HpaState(desired_replicas=5))
    index.remove(("shop", "web-a"))
    assert index.hpa(target) == ("web-b", HpaState(desired_replicas=2))
    index.remove(("shop", "web-b"))
    assert index.hpa(target) is None
