"""The replay is the operator's own decision: step by step, the same replica curve as
``policy.plan.decide`` called directly; a missing value is a failed read; the search picks the
cheapest candidate under the ceiling."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from tests import backtest_history as known

from podpilot.autoscaler.api.conversion import convert_hpa
from podpilot.autoscaler.api.result import Action
from podpilot.autoscaler.api.spec import parse_spec
from podpilot.autoscaler.backtest.replay import BacktestError, observe, replay
from podpilot.autoscaler.backtest.search import recommend
from podpilot.autoscaler.backtest.summary import simulated
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey
from podpilot.autoscaler.engine import (
    ContainerSpec,
    PodInfo,
    PodMetric,
    ReadyCondition,
    resource_utilization_replicas,
)
from podpilot.settings import HpaSettings

TIMES = [1_800_000_000.0 + i * known.STEP for i in range(len(known.LOAD))]
MANIFESTS: dict[str, dict[str, Any]] = {
    "autoscaler": known.autoscaler(),
    "hpa": convert_hpa(known.hpa()).autoscaler,
    "prometheus": known.queue_autoscaler(),
}


@pytest.mark.parametrize("kind", MANIFESTS)
def test_the_replay_is_decide_step_by_step(kind: str) -> None:
    manifest = MANIFESTS[kind]
    replayed = replay(parse_spec(manifest["spec"]), known.known_trace(TIMES))

    expected = known.reference_curve(manifest, TIMES)
    assert list(replayed.replicas) == expected
    assert len(set(expected)) >= 3, "the known trace must make the spec scale both ways"
    assert [step.desired for step in replayed.steps[:-1]] == expected[1:]


def test_the_cpu_plateau_reaches_max_replicas_and_utilization_is_usage_over_requests() -> None:
    replayed = replay(parse_spec(known.autoscaler()["spec"]), known.known_trace(TIMES))
    assert max(replayed.replicas) == 10
    first = replayed.steps[0]
    # 1.2 cores over 4 pods requesting 0.5 each: 60 % used, exactly the target
    assert first.loads == (pytest.approx(0.6),)
    assert first.ratios == (pytest.approx(1.0),)
    assert first.actual_loads == (pytest.approx(0.6),)


def test_a_step_without_samples_is_a_failed_read_and_holds_the_count() -> None:
    trace = known.known_trace(TIMES)
    series = trace.resources[ResourceKey("cpu")]
    usage = list(series.usage)
    usage[10] = {}
    holey = dataclasses.replace(
        trace, resources={ResourceKey("cpu"): PodSeries(tuple(usage), series.requests)}
    )
    replayed = replay(parse_spec(known.autoscaler()["spec"]), holey)
    step = replayed.steps[10]
    assert step.action is Action.HELD
    assert step.desired == step.replicas
    assert step.ratios == (None,)


def test_a_metric_type_without_history_is_refused() -> None:
    manifest = known.autoscaler()
    manifest["spec"]["metrics"] = [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        }
    ]
    with pytest.raises(BacktestError, match="Pods"):
        replay(parse_spec(manifest["spec"]), known.known_trace(TIMES))


def test_recommend_picks_the_cheapest_candidate_under_the_ceiling() -> None:
    trace = known.known_trace(TIMES)
    found = recommend(known.autoscaler()["spec"], trace, ceiling=0.8, allowed_over=0.1)

    assert found.best is not None
    allowed = 0.1 * (TIMES[-1] - TIMES[0])  # a share of the window, from its first step to its end
    assert found.allowed_seconds == allowed
    acceptable = [e for e in found.evaluated if (e.summary.seconds_over_ceiling or 0) <= allowed]
    assert found.best in acceptable
    assert all(found.best.summary.replica_minutes <= e.summary.replica_minutes for e in acceptable)
    assert len(found.evaluated) > 20
    # The evidence is a replay like any other.
    again = replay(found.best.candidate.spec, trace)
    assert simulated(again, 0.8) == found.best.summary


def test_a_recorded_pod_without_a_sample_is_a_missing_pod_to_the_engine() -> None:
    """At the recorded count the recorded pods are replayed as they were: the fourth pod has no
    sample at the plateau, so the engine's missing-pod rule decides (on a scale-up a missing
    pod counts as using nothing), exactly as on the pods and samples built here."""
    trace = known.known_trace(TIMES)
    series = trace.resources[ResourceKey("cpu")]
    usage = [dict(step) for step in series.usage]
    index = 12
    del usage[index][known.pod_names()[3]]
    holey = dataclasses.replace(
        trace, resources={ResourceKey("cpu"): PodSeries(tuple(usage), series.requests)}
    )
    spec = parse_spec(known.autoscaler()["spec"])
    now = TIMES[index]
    pods = [
        PodInfo(
            name=name,
            start_time=now - 86400,
            ready=ReadyCondition(True, now - 86400),
            containers=(ContainerSpec("app", {"cpu": 500}),),
        )
        for name in known.pod_names()
    ]
    expected = resource_utilization_replicas(
        current_replicas=4,
        target_utilization=60,
        resource="cpu",
        pods=pods,
        metrics={name: PodMetric(value, now) for name, value in usage[index].items()},
        now=now,
    )
    observed = observe(spec, holey, index, 4, HpaSettings()).metrics[0].outcome.proposal
    assert observed == expected
    # Each sampled pod uses 800m of 500m (160 %); with the missing pod at 0 the four pods use
    # 120 %, so ceil(4 * 120 / 60) = 8, where all four samples would give ceil(4 * 160 / 60).
    assert expected.replicas == 8


def test_an_average_value_target_replays_without_requests_as_the_hpa_reads_it() -> None:
    trace = known.known_trace(TIMES)
    series = trace.resources[ResourceKey("cpu")]
    no_requests = dataclasses.replace(
        trace,
        resources={ResourceKey("cpu"): PodSeries(series.usage, tuple({} for _ in series.usage))},
    )
    spec = parse_spec(
        {
            **known.autoscaler()["spec"],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "AverageValue", "averageValue": 0.3},
                    },
                }
            ],
        }
    )

    replayed = replay(spec, no_requests)

    assert all(step.action is not Action.HELD for step in replayed.steps)
    assert len(set(replayed.replicas)) >= 2


def test_a_series_empty_across_the_window_is_named() -> None:
    trace = known.known_trace(TIMES)
    series = trace.resources[ResourceKey("cpu")]
    empty = dataclasses.replace(
        trace,
        resources={ResourceKey("cpu"): PodSeries(tuple({} for _ in series.usage), series.requests)},
        replicas=tuple(None for _ in trace.replicas),
    )

    assert known.known_trace(TIMES).empty_series() == []
    assert empty.empty_series() == ["cpu usage", "the replica count"]


def test_a_sleeping_workload_replays_with_only_its_waking_metric_read() -> None:
    """minReplicas 0, cpu beside a queue: at zero the cpu is not read (no pod to read, no
    failed read), the queue alone wakes the workload, and every step has a ratio per metric."""
    manifest = known.autoscaler(minimum=0)
    manifest["spec"]["metrics"].append(known.queue_autoscaler()["spec"]["metrics"][0])
    spec = parse_spec(manifest["spec"])
    trace = known.known_trace(TIMES)
    depths = trace.queries[known.QUEUE_QUERY]
    asleep = len(depths) // 2
    quiet_then_busy = (0,) * asleep + tuple(max(depth or 0, 50_000) for depth in depths[asleep:])
    trace = dataclasses.replace(trace, queries={known.QUEUE_QUERY: quiet_then_busy})

    replayed = replay(spec, trace, start_replicas=0)

    sleeping = replayed.steps[: asleep - 1]
    assert {step.replicas for step in sleeping} == {0}
    assert all(step.action is not Action.HELD for step in sleeping)
    assert all(step.ratios[0] is None and step.ratios[1] is not None for step in sleeping)
    assert max(replayed.replicas[asleep:]) >= 1


def test_a_candidate_slower_to_sleep_than_the_recorded_workload_still_reaches_zero() -> None:
    """The recorded workload went to zero while the replay still runs a pod: no recorded pod
    means no per-pod load, so the cpu metric is left unread there (not failed, which would
    hold the pod for ever) and the idle queue takes the replay to zero after the cooldown."""
    manifest = known.autoscaler(minimum=0)
    manifest["spec"]["metrics"].append(known.queue_autoscaler()["spec"]["metrics"][0])
    manifest["spec"]["cooldownSeconds"] = 0
    spec = parse_spec(manifest["spec"])
    trace = known.known_trace(TIMES)
    busy = 3
    sleeping = len(TIMES) - busy
    series = trace.resources[ResourceKey("cpu")]
    trace = dataclasses.replace(
        trace,
        replicas=(1,) * busy + (0,) * sleeping,
        resources={
            ResourceKey("cpu"): PodSeries(
                tuple(dict(list(usage.items())[:1]) for usage in series.usage[:busy])
                + ({},) * sleeping,
                tuple(dict(list(requests.items())[:1]) for requests in series.requests[:busy])
                + ({},) * sleeping,
            )
        },
        queries={known.QUEUE_QUERY: (20_000,) * busy + (0,) * sleeping},
    )

    replayed = replay(spec, trace, start_replicas=1)

    assert replayed.replicas[-1] == 0, replayed.replicas
