"""A takeover's pure parts: the refusal rules, the seed and its fold, the kept manifest."""

from __future__ import annotations

from typing import Any

import pytest

from podpilot.autoscaler.api.takeover import (
    SEED_LIFETIME,
    TakeoverSeed,
    kept_manifest,
    refusal,
    seed_from_hpa,
    seeded_history,
)
from podpilot.autoscaler.engine import ScalingHistory, TimestampedRecommendation
from podpilot.autoscaler.engine.stabilization import stabilize_recommendation

NOW = 1_800_000_000.0


def hpa() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"team": "a"},
            "uid": "1234",
            "resourceVersion": "99",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 6},
        "status": {"currentReplicas": 5, "desiredReplicas": 3},
    }


def test_the_kept_manifest_is_what_the_author_wrote() -> None:
    kept = kept_manifest(hpa())
    assert kept == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"team": "a"},
        },
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 6},
    }


def test_the_seed_is_the_larger_of_the_hpa_counts_and_round_trips() -> None:
    seed = seed_from_hpa(hpa(), NOW)
    assert seed == TakeoverSeed(5, NOW)
    assert TakeoverSeed.from_annotation(seed.to_annotation()) == seed
    assert seed_from_hpa({"status": {"desiredReplicas": 7}}, NOW) == TakeoverSeed(7, NOW)
    synced_at_zero = {"desiredReplicas": 0, "conditions": [{"type": "ScalingActive"}]}
    assert seed_from_hpa({"status": synced_at_zero}, NOW) == TakeoverSeed(0, NOW)


@pytest.mark.parametrize(
    "status",
    [
        None,
        {"desiredReplicas": 0},
        {"currentReplicas": 0, "desiredReplicas": 0},
        "synced",
        {"currentReplicas": None, "desiredReplicas": "3"},
        {"currentReplicas": True},
    ],
    ids=["none", "never-synced", "zeros", "a-string", "not-numbers", "a-bool"],
)
def test_an_hpa_without_a_count_has_no_seed(status: object) -> None:
    """Before its first sync an HPA's status is the API's zero value: a seed of 0 would hold
    nothing, and the takeover would be a step change."""
    assert seed_from_hpa({"status": status}, NOW) is None


@pytest.mark.parametrize(
    "text", [None, "", "{", "[]", '{"replicas": "3", "at": "x"}', "[" * 100_000 + "]" * 100_000]
)
def test_an_unreadable_seed_is_none(text: str | None) -> None:
    assert TakeoverSeed.from_annotation(text) is None


def test_a_seed_holds_a_scale_down_for_a_whole_window_from_the_takeover() -> None:
    history = ScalingHistory((TimestampedRecommendation(2, NOW - 10),))
    seeded = seeded_history(history, TakeoverSeed(5, NOW), NOW)
    assert seeded is not None
    assert seeded_history(seeded, TakeoverSeed(5, NOW), NOW + 1) == seeded  # once
    inside = stabilize_recommendation(
        seeded.recommendations, 1, now=NOW + 59, downscale_stabilization_window=60
    )
    assert inside.replicas == 5
    after = stabilize_recommendation(
        seeded.recommendations, 1, now=NOW + 61, downscale_stabilization_window=60
    )
    assert after.replicas == 1


def test_a_seed_without_history_or_past_its_lifetime() -> None:
    seed = TakeoverSeed(4, NOW)
    assert seeded_history(None, seed, NOW) == ScalingHistory((TimestampedRecommendation(4, NOW),))
    assert seeded_history(None, seed, NOW + SEED_LIFETIME) is None
    assert seeded_history(None, seed, NOW - SEED_LIFETIME) is None  # a year typed wrong
    ahead = seeded_history(None, seed, NOW - 60)  # written ahead of the sync: held from then
    assert ahead == ScalingHistory((TimestampedRecommendation(4, NOW),))
    assert seeded_history(None, None, NOW) is None


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [
        (None, "no shadow tally of HPA web"),
        ({"hpa": "other", "evaluations": 50, "agreed": 50}, "no shadow tally of HPA web"),
        ({"hpa": "web", "evaluations": 5, "agreed": 5}, "only 5 comparable evaluations"),
        ({"hpa": "web", "evaluations": 20, "agreed": 18}, "in 18 of 20 evaluations (90.0%)"),
        ({"hpa": "web", "evaluations": 20, "agreed": 19}, None),
    ],
    ids=["no-tally", "other-hpa", "too-few", "disagrees", "agrees"],
)
def test_refusal_rules(shadow: dict[str, Any] | None, expected: str | None) -> None:
    reason = refusal(shadow, "web", threshold=0.95, min_evaluations=10)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


@pytest.mark.parametrize("min_evaluations", [0, 1])
def test_an_empty_tally_never_allows_a_takeover(min_evaluations: int) -> None:
    shadow = {"hpa": "web", "evaluations": 0, "agreed": 0}
    reason = refusal(shadow, "web", threshold=0.0, min_evaluations=min_evaluations)
    assert reason == (
        "only 0 comparable evaluations of HPA web (at least 1 needed); wait, or use --force"
    )


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [
        ("web", "no shadow tally of HPA web"),
        (["web"], "no shadow tally of HPA web"),
        ({"hpa": "web", "evaluations": "40", "agreed": 40}, "only 0 comparable evaluations"),
        ({"hpa": "web", "evaluations": 40, "agreed": None}, "in 0 of 40 evaluations (0.0%)"),
    ],
    ids=["a-string", "a-list", "evaluations-text", "agreed-null"],
)
def test_a_tally_of_another_shape_is_refused_not_a_crash(shadow: object, expected: str) -> None:
    reason = refusal(shadow, "web", threshold=0.95, min_evaluations=0)
    assert reason is not None and expected in reason
