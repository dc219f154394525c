"""A recorded pod is replayed as the HPA's ``groupPods`` groups it, with the phase the history
recorded: a Pending pod is unready (left out on a scale-down, at 0 on a scale-up), not a
running pod without a sample (missing: at 100 % of its request on a scale-down); a Failed pod
is ignored, and neither carries load when the load is spread over another count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.backtest.replay import observe, replay
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace
from podpilot.autoscaler.engine import (
    ContainerSpec,
    PodInfo,
    PodMetric,
    PodPhase,
    ReadyCondition,
    ReplicaProposal,
    resource_utilization_replicas,
)
from podpilot.autoscaler.sources.prometheus_range import RangeReader, SeriesNames, Window
from podpilot.commands.backtest_inputs import phase_query, pod_phases, read_trace
from podpilot.settings import HpaSettings

NOW = 1_800_000_000.0
REQUEST = 500  # millicores, every pod
CPU_AT_60: dict[str, Any] = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 1,
    "maxReplicas": 10,
    "metrics": [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ],
}
SPEC: AutoscalerSpec = parse_spec(CPU_AT_60)


def one_step(
    usage: Mapping[str, int],
    requested: Sequence[str],
    phases: Mapping[str, PodPhase] | None,
    replicas: int = 4,
) -> Trace:
    """One step of history: the pods' usage, the pods with a request, their phases (None:
    the history has no phase series)."""
    series = PodSeries((dict(usage),), (dict.fromkeys(requested, REQUEST),))
    return Trace(
        times=(NOW,),
        replicas=(replicas,),
        resources={ResourceKey("cpu"): series},
        queries={},
        phases=(dict(phases),) if phases is not None else (),
    )


def proposal_at(trace: Trace, replicas: int) -> ReplicaProposal:
    proposal = observe(SPEC, trace, 0, replicas, HpaSettings()).metrics[0].outcome.proposal
    assert proposal is not None
    return proposal


def as_the_hpa_lists(phases: Mapping[str, PodPhase]) -> list[PodInfo]:
    """The pods as the HPA's pod lister has them: running (or not) for a day, with a request."""
    return [
        PodInfo(
            name=name,
            phase=phase,
            start_time=NOW - 86400,
            ready=ReadyCondition(True, NOW - 86400),
            containers=(ContainerSpec("app", {"cpu": REQUEST}),),
        )
        for name, phase in phases.items()
    ]


def as_the_hpa_decides(usage: dict[str, int], phases: dict[str, PodPhase]) -> ReplicaProposal:
    """The engine's own proposal for these pods (all of them the target's replicas)."""
    return resource_utilization_replicas(
        current_replicas=len(phases),
        target_utilization=60,
        resource="cpu",
        pods=as_the_hpa_lists(phases),
        metrics={name: PodMetric(value, NOW) for name, value in usage.items()},
        now=NOW,
    )


RUNNING = PodPhase.RUNNING


def test_a_pending_pod_is_left_out_of_a_scale_down_as_the_hpa_leaves_it_out() -> None:
    """Three pods at 20 % of their request and a fourth Pending (a request, no sample): the HPA
    drops the Pending pod (ceil(3 x 20 / 60) = 1); as a missing pod it would have counted at
    100 % of its request on this scale-down (ceil(4 x 40 / 60) = 3)."""
    usage = {"web-a": 100, "web-b": 100, "web-c": 100}
    phases = {"web-a": RUNNING, "web-b": RUNNING, "web-c": RUNNING, "web-d": PodPhase.PENDING}
    trace = one_step(usage, list(phases), phases)

    expected = as_the_hpa_decides(usage, phases)

    assert proposal_at(trace, 4) == expected
    assert expected.replicas == 1


def test_without_a_phase_series_a_pod_without_a_sample_stays_a_missing_pod() -> None:
    """The documented fallback when the history has no phase series: the same pods, the
    fourth replayed as running without a sample."""
    usage = {"web-a": 100, "web-b": 100, "web-c": 100}
    trace = one_step(usage, ["web-a", "web-b", "web-c", "web-d"], phases=None)
    assert proposal_at(trace, 4).replicas == 3


def test_a_pending_pod_counts_at_zero_on_a_scale_up() -> None:
    """Three pods at 160 % and one Pending: the engine's unready rule, 0 % on a scale-up."""
    usage = {"web-a": 800, "web-b": 800, "web-c": 800}
    phases = {"web-a": RUNNING, "web-b": RUNNING, "web-c": RUNNING, "web-d": PodPhase.PENDING}
    trace = one_step(usage, list(phases), phases)
    expected = as_the_hpa_decides(usage, phases)
    assert proposal_at(trace, 4) == expected
    assert expected.replicas == 8  # ceil(4 x 120 / 60): 2400m over four requests of 500m


def test_a_failed_pod_is_ignored_and_not_counted_among_the_workload_s_pods() -> None:
    """An evicted pod lingers as Failed with its request: the HPA ignores it. Four running
    pods at 80 % are replayed as recorded (not spread over five pods, as if the Failed one had
    run at the mean)."""
    usage = {"web-a": 400, "web-b": 400, "web-c": 400, "web-d": 400}
    phases = {**dict.fromkeys(usage, RUNNING), "web-e": PodPhase.FAILED}
    trace = one_step(usage, list(phases), phases)
    expected = as_the_hpa_decides(usage, phases)
    assert proposal_at(trace, 4) == expected
    assert expected.replicas == 6  # ceil(4 x 80 / 60)


def test_a_pending_pod_carries_no_load_when_the_load_is_spread_over_another_count() -> None:
    """2400m used by three running pods, a fourth Pending: spread over six simulated pods
    that is 400m each (80 % of 500m), not the running pods' mean times four (107 %)."""
    usage = {"web-a": 800, "web-b": 800, "web-c": 800}
    phases = {"web-a": RUNNING, "web-b": RUNNING, "web-c": RUNNING, "web-d": PodPhase.PENDING}
    trace = one_step(usage, list(phases), phases)

    assert proposal_at(trace, 6).current_utilization == 80
    step = replay(SPEC, trace, start_replicas=6).steps[0]
    assert step.loads == (pytest.approx(0.8),)
    assert step.actual_loads == (pytest.approx(1.2),)  # the recorded four: 2400m of 2000m


def test_the_phase_query_reads_each_pod_s_current_phase_once() -> None:
    names = SeriesNames(namespace="shop", pod_regex="web-[0-9]+")
    assert phase_query("kube_pod_status_phase", names) == (
        'max by (pod, phase) (kube_pod_status_phase{namespace="shop",pod=~"web-[0-9]+"}) > 0'
    )


def test_the_phase_matrix_becomes_each_pod_s_phase_per_step() -> None:
    """Where two kube-state-metrics replicas disagree for a moment the phase later in a pod's
    life wins; a phase Kubernetes does not name, a 0 and a point off the steps are left out."""
    span = Window(NOW, NOW + 120, 60)
    result = [
        {"metric": {"pod": "web-a", "phase": "Pending"}, "values": [[NOW, "1"], [NOW + 60, "1"]]},
        {
            "metric": {"pod": "web-a", "phase": "Running"},
            "values": [[NOW + 60, "1"], [NOW + 120, "1"]],
        },
        {"metric": {"pod": "web-b", "phase": "Failed"}, "values": [[NOW + 120, "1"]]},
        {"metric": {"pod": "web-c", "phase": "Evicted"}, "values": [[NOW, "1"]]},
        {"metric": {"pod": "web-d", "phase": "Running"}, "values": [[NOW, "0"], [NOW + 30, "1"]]},
    ]
    assert pod_phases(result, span) == (
        {"web-a": PodPhase.PENDING},
        {"web-a": PodPhase.RUNNING},
        {"web-a": PodPhase.RUNNING, "web-b": PodPhase.FAILED},
    )


def test_without_a_phase_series_the_pods_a_phase_would_have_told_apart_are_named() -> None:
    usage = {"web-a": 100, "web-b": 100, "web-c": 100}
    trace = one_step(usage, ["web-a", "web-b", "web-c", "web-d"], phases=None)
    assert trace.pods_without_sample() == ["web-d"]


class CannedPrometheus:
    """Answers each range query with the matrix given for it; records the queries asked."""

    def __init__(self, answers: Mapping[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def matrix(self, query: str, window: Window) -> list[dict[str, Any]]:
        self.asked.append(query)
        return self.answers.get(query, [])


NAMES = SeriesNames(namespace="shop", pod_regex="web-[a-z]")
SPAN = Window(NOW, NOW, 60)


def per_pod_matrix(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"metric": {"pod": pod}, "values": [[NOW, value]]} for pod, value in values.items()]


def test_the_history_read_brings_the_pods_phases_into_the_trace() -> None:
    cpu = ResourceKey("cpu")
    prometheus = CannedPrometheus(
        {
            NAMES.replicas(SPEC): [{"metric": {}, "values": [[NOW, "4"]]}],
            NAMES.usage_query(cpu): per_pod_matrix(dict.fromkeys(["web-a", "web-b"], "0.1")),
            NAMES.requests_query(cpu): per_pod_matrix(dict.fromkeys(["web-a", "web-b"], "0.5")),
            phase_query("kube_pod_status_phase", NAMES): [
                {"metric": {"pod": "web-a", "phase": "Running"}, "values": [[NOW, "1"]]},
                {"metric": {"pod": "web-b", "phase": "Pending"}, "values": [[NOW, "1"]]},
            ],
        }
    )

    trace = read_trace(cast(RangeReader, prometheus), [SPEC], NAMES, SPAN)

    assert trace.phases == ({"web-a": RUNNING, "web-b": PodPhase.PENDING},)
    assert trace.resources[cpu].usage == ({"web-a": 100, "web-b": 100},)


def test_a_history_without_phase_samples_keeps_no_phases() -> None:
    prometheus = CannedPrometheus({NAMES.replicas(SPEC): [{"metric": {}, "values": [[NOW, "4"]]}]})
    trace = read_trace(cast(RangeReader, prometheus), [SPEC], NAMES, SPAN)
    assert trace.phases == ()
    assert phase_query("kube_pod_status_phase", NAMES) in prometheus.asked
