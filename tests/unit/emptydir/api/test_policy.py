"""The policy spec as typed settings: Go durations, defaults, invalid fields, selectors."""

from datetime import timedelta

import pytest

from podpilot.emptydir.api.policy import parse_duration, parse_policy
from podpilot.emptydir.engine.audit_policy import AuditPolicy, StatsSource


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60s", timedelta(seconds=60)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("0.5s", timedelta(milliseconds=500)),
        ("1m0.5s", timedelta(seconds=60.5)),
        ("250ms", timedelta(milliseconds=250)),
        ("0", timedelta(0)),
        ("-2s", timedelta(seconds=-2)),
    ],
)
def test_go_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "s", "1d", "1h foo", "PT5M"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_duration(text)


def test_an_empty_spec_gives_the_crd_defaults() -> None:
    policy = parse_policy({})
    assert policy == AuditPolicy()
    assert policy.poll_interval == timedelta(seconds=60)
    assert policy.thresholds.warn_ratio == 0.80
    assert policy.audits_namespace("anything", None)


def test_fields_map_onto_thresholds_and_polling() -> None:
    policy = parse_policy(
        {
            "thresholds": {
                "warnPercent": 70,
                "criticalPercent": 90,
                "projectionWindow": "2h",
                "staleAfter": "5m",
                "failuresBeforeWarning": 1,
            },
            "polling": {"interval": "5s", "maxConcurrent": 2, "ringSize": 4},
            "reports": {"maxVolumesPerReport": 7, "metricsGranularity": "pod"},
            "exemptions": {"findingIds": ["ed005"], "volumeNamePattern": "tmp-.*"},
        }
    )
    assert policy.thresholds.warn_ratio == 0.70
    assert policy.thresholds.critical_ratio == 0.90
    assert policy.thresholds.projection_window == timedelta(hours=2)
    assert policy.thresholds.stale_after == timedelta(minutes=5)
    assert policy.thresholds.failures_before_warning == 1
    assert (policy.poll_interval, policy.max_concurrent, policy.ring_size) == (
        timedelta(seconds=5),
        2,
        4,
    )
    assert policy.max_volumes_per_report == 7
    assert policy.pod_granularity
    assert policy.exemptions.finding_ids == frozenset({"ED005"})
    assert policy.exemptions.volume_name_pattern == "tmp-.*"
    assert policy.problems == ()


def test_invalid_fields_fall_back_to_defaults_and_are_reported() -> None:
    policy = parse_policy(
        {
            "thresholds": {"warnPercent": "lots", "staleAfter": "soon"},
            "polling": {"interval": "-5s", "maxConcurrent": 0},
            "exemptions": {"volumeNamePattern": "("},
        }
    )
    defaults = AuditPolicy()
    assert policy.thresholds.warn_ratio == defaults.thresholds.warn_ratio
    assert policy.thresholds.stale_after == defaults.thresholds.stale_after
    assert policy.poll_interval == defaults.poll_interval
    assert policy.max_concurrent == defaults.max_concurrent
    assert policy.exemptions.volume_name_pattern is None
    assert len(policy.problems) == 5


def test_namespace_selection_and_exemptions() -> None:
    policy = parse_policy(
        {
            "namespaceSelector": {
                "matchLabels": {"team": "a"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}],
            },
            "exemptions": {"namespaces": ["kube-system"], "podLabels": {"audit": "off"}},
        }
    )
    assert policy.audits_namespace("shop", {"team": "a"})
    assert not policy.audits_namespace("shop", {"team": "a", "tier": "dev"})
    assert not policy.audits_namespace("shop", {"team": "b"})
    assert not policy.audits_namespace("shop", None)  # labels unknown: not selected
    assert not policy.audits_namespace("kube-system", {"team": "a"})
    assert policy.exempts_pod({"audit": "off", "app": "x"})
    assert not policy.exempts_pod({"app": "x"})
    assert not AuditPolicy().exempts_pod({"audit": "off"})


@pytest.mark.parametrize(
    ("operator", "values", "labels", "matches"),
    [
        ("In", ["a", "b"], {"k": "a"}, True),
        ("In", ["a"], {}, False),
        ("NotIn", ["a"], {}, True),
        ("Exists", [], {"k": ""}, True),
        ("Exists", [], {}, False),
        ("DoesNotExist", [], {"k": "x"}, False),
        ("DoesNotExist", [], {}, True),
    ],
)
def test_selector_operators(
    operator: str, values: list[str], labels: dict[str, str], matches: bool
) -> None:
    expression = {"key": "k", "operator": operator, "values": values}
    policy = parse_policy({"namespaceSelector": {"matchExpressions": [expression]}})
    assert policy.problems == ()
    assert policy.namespace_selector.matches(labels) is matches
    assert policy.audits_namespace("ns", labels) is matches


def test_invalid_selector_expressions_are_reported_and_left_out() -> None:
    policy = parse_policy(
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "k", "operator": "Gt", "values": ["1"]},
                    {"operator": "Exists"},
                    "not-a-term",
                    {"key": "team", "operator": "In", "values": ["a"]},
                ]
            }
        }
    )
    assert policy.problems == (
        "namespaceSelector.matchExpressions[0]: invalid",
        "namespaceSelector.matchExpressions[1]: invalid",
        "namespaceSelector.matchExpressions[2]: invalid",
    )
    assert policy.audits_namespace("shop", {"team": "a"})
    assert not policy.audits_namespace("shop", {"team": "b", "k": "2"})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, StatsSource.KUBELET_DIRECT),
        ("kubeletDirect", StatsSource.KUBELET_DIRECT),
        ("apiserverProxy", StatsSource.APISERVER_PROXY),
    ],
)
def test_the_stats_source_is_read_directly_unless_the_proxy_is_asked_for(
    source: str | None, expected: StatsSource
) -> None:
    polling = {} if source is None else {"source": source}
    policy = parse_policy({"polling": polling})
    assert (policy.stats_source, policy.problems) == (expected, ())


def test_an_unknown_stats_source_falls_back_to_the_direct_read() -> None:
    policy = parse_policy({"polling": {"source": "nodeProxy"}})
    assert policy.stats_source is StatsSource.KUBELET_DIRECT
    assert policy.problems == ("polling.source: not kubeletDirect or apiserverProxy: 'nodeProxy'",)
