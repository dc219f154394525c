"""What a backtest reads and how ``recommend`` varies a spec: the pods of the target only,
time over target outside the tolerance band, behavior presets laid over the spec's own."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests import backtest_history as known

from podpilot.autoscaler.backtest.candidates import BEHAVIORS, candidates, over_own_behavior
from podpilot.autoscaler.backtest.replay import BacktestError
from podpilot.autoscaler.backtest.search import recommend
from podpilot.autoscaler.backtest.summary import summarize
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace
from podpilot.autoscaler.sources.prometheus_range import SeriesNames, default_pod_regex


@pytest.mark.parametrize(
    ("kind", "pod", "matches"),
    [
        ("Deployment", "web-5d4f8b7c9-x2k9p", True),
        ("Deployment", "web-api-5d4f8b7c9-x2k9p", False),
        ("Deployment", "web-api-x2k9p", False),  # a DaemonSet's or a Job's pod of web-api
        ("Deployment", "web-5d4f8b7c9", False),
        ("StatefulSet", "web-12", True),
        ("StatefulSet", "web-api-0", False),
        ("ReplicaSet", "web-x2k9p", True),
        ("ReplicaSet", "web-api-x2k9p", False),
        ("Rollout", "web-anything", True),
    ],
)
def test_the_default_pods_are_those_the_kind_names_after_the_target(
    kind: str, pod: str, matches: bool
) -> None:
    # PromQL anchors a regular expression at both ends, as fullmatch does.
    assert bool(re.fullmatch(default_pod_regex(kind, "web"), pod)) is matches


def test_a_long_deployment_name_whose_pod_prefix_is_cut_still_matches() -> None:
    name = "a" * 50
    replica_set = f"{name}-5d4f8b7c9"
    pod = f"{replica_set}-"[:58] + "x2k9p"  # what the apiserver's name generator makes
    assert re.fullmatch(default_pod_regex("Deployment", name), pod)


def test_a_dotted_name_matches_its_dots_only() -> None:
    pattern = default_pod_regex("StatefulSet", "web.v2")
    assert "\\" not in pattern  # readable in the query, where a backslash shows doubled
    assert re.fullmatch(pattern, "web.v2-0")
    assert not re.fullmatch(pattern, "webxv2-0")


def test_every_series_is_taken_once_per_container_before_the_pod_sum() -> None:
    names = SeriesNames(namespace="shop", pod_regex="web-[0-9]+")
    for query in (names.usage_query(ResourceKey("cpu")), names.requests_query(ResourceKey("cpu"))):
        assert query.startswith("sum by (pod) (max by (pod, container) ("), query


def test_inside_the_tolerance_band_is_not_over_target() -> None:
    ratios = [[1.05], [1.2], [0.5]]
    figures = summarize(
        [2, 2, 2], ratios, [[0.5]] * 3, durations=[60] * 3, max_replicas=5, over_above=1.1
    )
    assert (figures.seconds_over_target, figures.seconds_under_target) == (60, 120)


# The test history's Autoscaler, with a behavior of its own that no preset names in full.
SPEC: dict[str, Any] = {
    **known.autoscaler()["spec"],
    "behavior": {
        "scaleUp": {"tolerance": "0.05"},
        "scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
    },
}


def test_a_preset_changes_only_what_it_names() -> None:
    merged = over_own_behavior(SPEC["behavior"], BEHAVIORS["responsive"])
    assert merged["scaleUp"]["tolerance"] == "0.05"
    assert merged["scaleUp"]["policies"] == BEHAVIORS["responsive"]["scaleUp"]["policies"]
    assert merged["scaleDown"] == {
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        "stabilizationWindowSeconds": 60,
    }
    assert SPEC["behavior"]["scaleUp"] == {"tolerance": "0.05"}  # the spec itself unchanged


def test_every_candidate_keeps_the_spec_s_own_tolerance() -> None:
    tolerances = {c.raw["behavior"]["scaleUp"]["tolerance"] for c in candidates(SPEC)}
    assert tolerances == {"0.05"}


def test_label_values_are_promql_strings_whatever_they_hold() -> None:
    names = SeriesNames(namespace='shop"} or up{x="', pod_regex="web-\\d+")
    query = names.usage_query(ResourceKey("memory"))
    assert 'namespace="shop\\"} or up{x=\\""' in query
    assert 'pod=~"web-\\\\d+"' in query


def test_a_spec_without_metrics_has_its_default_target_scaled_and_no_candidate_twice() -> None:
    """The default metric (80 % of CPU requests) is what a factor scales when the spec names
    none; a candidate the same as another one is not replayed again."""
    bare = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
    }
    tried = list(candidates(bare))
    utilizations = {c.target_factor: c.spec.metrics[0].target.average_utilization for c in tried}
    assert utilizations == {factor: max(1, round(80 * factor)) for factor in utilizations}
    assert len(utilizations) > 1
    written = [repr(sorted(c.raw.items())) for c in tried]
    assert len(written) == len(set(written))


def test_recommend_refuses_a_ceiling_it_cannot_judge() -> None:
    """900Mi a pod against an AverageValue of 1Gi, no requests recorded: no load is known, and
    the cheapest candidate would have won whatever its load."""
    times = tuple(1_800_000_000.0 + 15 * i for i in range(40))
    pods = [f"web-abc-{i}" for i in range(4)]
    usage = tuple(dict.fromkeys(pods, 900 * 2**20 * 1000) for _ in times)
    memory = PodSeries(usage, tuple({} for _ in times))
    trace = Trace(times, tuple(4 for _ in times), {ResourceKey("memory"): memory}, {})
    target = {"type": "AverageValue", "averageValue": "1Gi"}
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": target}}],
    }
    unjudged = r"spec.metrics\[0\] \(memory resource\): no load is known"
    with pytest.raises(BacktestError, match=unjudged):
        recommend(spec, trace, ceiling=0.5)
