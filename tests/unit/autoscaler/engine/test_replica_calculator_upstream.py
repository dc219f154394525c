# ruff: noqa: E501  (one upstream case per line keeps the tables comparable with the Go source)
"""Upstream's ``replica_calculator_test.go``, ported as table tests.

Each case id is ``<upstream test>/<upstream subtest>``. The fake clients of the Go
tests are replaced by ``helpers.Scenario``, which builds the same pods and
samples; the engine then computes everything. Timestamps returned by the Go metrics
client are not compared (the engine takes samples as input, not from a client).

Ported cases (100), from the newest stored version of the file:

- TestReplicaCalcResourceScale: 24
- TestReplicaCalcResourceTolerance: 6
- TestReplicaCalcResourceMissingMetrics: 15
- TestReplicaCalcComputedToleranceAlgImplementation: 2 (its two runs)
- TestReplicaCalcPodMetric: 8
- TestReplicaCalcObjectMetric: 6
- TestReplicaCalcObjectPerPodMetric: 4
- TestReplicaCalcExternalMetric: 5
- TestReplicaCalcExternalPerPodMetric: 6
- TestGroupPods: 14
- TestCalculateRequests: 9
- TestCalculatePodRequestsFromContainers_NonExistentContainer: 1

The older, one-function-per-case tests of the same file (TestReplicaCalcScaleUpCM,
TestReplicaCalcMissingMetricsUnreadyScaleDown, ...) carry the same fixtures and
expectations as table rows above, so they are not repeated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from podpilot.autoscaler.engine import (
    ContainerSpec,
    MetricComputationError,
    PodInfo,
    PodMetric,
    PodPhase,
    Tolerances,
    external_metric_replicas,
    external_per_pod_metric_replicas,
    object_metric_replicas,
    object_per_pod_metric_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)
from podpilot.autoscaler.engine.model import MAX_INT32, MAX_INT64, ReadyCondition
from podpilot.autoscaler.engine.pod_grouping import group_pods
from podpilot.autoscaler.engine.requests import (
    calculate_pod_request_from_containers,
    calculate_requests,
)

from .helpers import COOL_CPU_CREATION_TIME as COOL
from .helpers import GO_ZERO_TIME, NOW, TEST_SETTINGS, Scenario, cpu_requests, levels
from .helpers import HOT_CPU_CREATION_TIME as HOT

RUNNING, PENDING, FAILED = PodPhase.RUNNING, PodPhase.PENDING, PodPhase.FAILED
DEFAULT = Tolerances(0.1, 0.1)


@dataclass(frozen=True)
class ResourceCase:
    scenario: Scenario
    target_utilization: int
    replicas: int = 0
    utilization: int = 0
    raw_value: int = 0
    error: str | None = None
    tolerances: Tolerances = DEFAULT


def _resource(name: str, case: ResourceCase) -> object:
    return pytest.param(case, id=name)


RESOURCE_CASES = [
    # TestReplicaCalcResourceScale
    _resource("TestReplicaCalcResourceScale/scale up", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(300, 500, 700)), 30, 5, 50, 2 * 500)),
    _resource("TestReplicaCalcResourceScale/scale up: container metric", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), ((1000, 300), (1000, 500), (1000, 700)), container="container2"), 30, 5, 50, 500)),
    _resource("TestReplicaCalcResourceScale/scale up: unready pod scales less", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(300, 500, 700), readiness=(False, True, True)), 30, 4, 60, 2 * 600)),
    _resource("TestReplicaCalcResourceScale/scale up: hot-CPU container scales less", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), ((0, 300), (0, 500), (0, 700)), container="container2", start_times=(HOT, COOL, COOL)), 30, 4, 60, 600)),
    _resource("TestReplicaCalcResourceScale/scale up: hot-CPU pod scales less", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(300, 500, 700), start_times=(HOT, COOL, COOL)), 30, 4, 60, 2 * 600)),
    _resource("TestReplicaCalcResourceScale/no scale: unready pods ignored", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(400, 500, 700), readiness=(True, False, False)), 30, 3, 40, 2 * 400)),
    _resource("TestReplicaCalcResourceScale/no scale: hot-CPU pods ignored", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(400, 500, 700), readiness=(True, False, False), start_times=(COOL, HOT, HOT)), 30, 3, 40, 2 * 400)),
    _resource("TestReplicaCalcResourceScale/scale up: failed pods ignored", ResourceCase(Scenario(2, cpu_requests(4, "1.0"), levels(500, 700), readiness=(True, True, False, False), phases=(RUNNING, RUNNING, FAILED, FAILED)), 30, 4, 60, 2 * 600)),
    _resource("TestReplicaCalcResourceScale/scale up: failed pods ignored with missing container metric", ResourceCase(Scenario(2, cpu_requests(4, "1.0"), ((1000, 500), (9000, 700), (1000,), (9000,)), container="container2", readiness=(True, True, False, False), phases=(RUNNING, RUNNING, FAILED, FAILED)), 30, 4, 60, 600)),
    _resource("TestReplicaCalcResourceScale/scale up: container metrics with failed pods ignored", ResourceCase(Scenario(2, cpu_requests(4, "1.0"), ((1000, 500), (9000, 700)), container="container2", readiness=(True, True, False, False), phases=(RUNNING, RUNNING, FAILED, FAILED)), 30, 4, 60, 600)),
    _resource("TestReplicaCalcResourceScale/scale up: pods being deleted are ignored", ResourceCase(Scenario(2, cpu_requests(4, "1.0"), levels(500, 700), readiness=(True, True, False, False), phases=(RUNNING,) * 4, deleted=(False, False, True, True)), 30, 4, 60, 2 * 600)),
    _resource("TestReplicaCalcResourceScale/scale up: container metrics with pods being deleted ignored", ResourceCase(Scenario(2, cpu_requests(4, "1.0"), levels(500, 700), container="container1", readiness=(True, True, False, False), phases=(RUNNING,) * 4, deleted=(False, False, True, True)), 30, 4, 60, 600)),
    _resource("TestReplicaCalcResourceScale/scale down", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), levels(100, 300, 500, 250, 250)), 50, 3, 28, 2 * 280)),
    _resource("TestReplicaCalcResourceScale/scale down: container metric", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 250), (1000, 250)), container="container2"), 50, 3, 28, 280)),
    _resource("TestReplicaCalcResourceScale/scale down: exclude unready pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), levels(100, 300, 500, 250, 250), readiness=(True, True, True, False, False)), 50, 2, 30, 2 * 300)),
    _resource("TestReplicaCalcResourceScale/scale down: container metric excludes unready pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 250), (1000, 250)), container="container2", readiness=(True, True, True, False, False)), 50, 2, 30, 300)),
    _resource("TestReplicaCalcResourceScale/scale down: exclude unscheduled pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), levels(100), readiness=(True, False, False, False, False), phases=(RUNNING, PENDING, PENDING, PENDING, PENDING)), 50, 1, 10, 2 * 100)),
    _resource("TestReplicaCalcResourceScale/scale down: container metric excludes unscheduled pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 250), (1000, 250)), container="container2", readiness=(True, False, False, False, False), phases=(RUNNING, PENDING, PENDING, PENDING, PENDING)), 50, 1, 10, 100)),
    _resource("TestReplicaCalcResourceScale/scale down: ignore hot-CPU pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), levels(100, 300, 500, 250, 250), start_times=(COOL, COOL, COOL, HOT, HOT)), 50, 2, 30, 2 * 300)),
    _resource("TestReplicaCalcResourceScale/scale down: container metric ignores hot-CPU pods", ResourceCase(Scenario(5, cpu_requests(5, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 1000), (1000, 1000)), container="container2", start_times=(COOL, COOL, COOL, HOT, HOT)), 50, 2, 30, 300)),
    _resource("TestReplicaCalcResourceScale/scale down: failed pods ignored", ResourceCase(Scenario(5, cpu_requests(7, "1.0"), levels(100, 300, 500, 250, 250), readiness=(True,) * 5 + (False, False), phases=(RUNNING,) * 5 + (FAILED, FAILED)), 50, 3, 28, 2 * 280)),
    _resource("TestReplicaCalcResourceScale/scale down: container metric with failed pods ignored", ResourceCase(Scenario(5, cpu_requests(7, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 250), (1000, 250)), container="container2", readiness=(True,) * 5 + (False, False), phases=(RUNNING,) * 5 + (FAILED, FAILED)), 50, 3, 28, 280)),
    _resource("TestReplicaCalcResourceScale/scale down: pods being deleted are ignored", ResourceCase(Scenario(5, cpu_requests(7, "1.0"), levels(100, 300, 500, 250, 250), readiness=(True,) * 5 + (False, False), phases=(RUNNING,) * 7, deleted=(False,) * 5 + (True, True)), 50, 3, 28, 2 * 280)),
    _resource("TestReplicaCalcResourceScale/scale down: still-running pods being deleted are ignored", ResourceCase(Scenario(5, cpu_requests(7, "1.0"), ((1000, 100), (1000, 300), (1000, 500), (1000, 250), (1000, 250)), container="container2", readiness=(True,) * 5 + (False, False), phases=(RUNNING,) * 7, deleted=(False,) * 5 + (True, True)), 50, 3, 28, 280)),
    # TestReplicaCalcResourceTolerance
    _resource("TestReplicaCalcResourceTolerance/within default tolerance", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(1010, 1030, 1020)), 100, 3, 102, 2 * 1020)),
    _resource("TestReplicaCalcResourceTolerance/outside 0% tolerance", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(909, 1010, 1111)), 100, 4, 101, 2 * 1010, tolerances=Tolerances(0.0, 0.0))),
    _resource("TestReplicaCalcResourceTolerance/within 200% scale-up tolerance", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(1890, 1910, 1900)), 100, 3, 190, 2 * 1900, tolerances=Tolerances(0.1, 2.0))),
    _resource("TestReplicaCalcResourceTolerance/outside 8% scale-up tolerance (superfluous scale-down tolerance)", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(1100, 1080, 1090)), 100, 4, 109, 2 * 1090, tolerances=Tolerances(2.0, 0.08))),
    _resource("TestReplicaCalcResourceTolerance/within 36% scale-down tolerance", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(660, 640, 650)), 100, 3, 65, 2 * 650, tolerances=Tolerances(0.36, 0.1))),
    _resource("TestReplicaCalcResourceTolerance/outside 34% scale-down tolerance", ResourceCase(Scenario(3, ("0.9", "1.0", "1.1"), levels(660, 640, 650)), 100, 2, 65, 2 * 650, tolerances=Tolerances(0.34, 0.1))),
    # TestReplicaCalcResourceMissingMetrics
    _resource("TestReplicaCalcResourceMissingMetrics/superfluous metrics counted", ResourceCase(Scenario(4, cpu_requests(4, "1.0"), levels(4000, 9500, 3000, 7000, 3200, 2000)), 100, 24, 587, 2 * 5875)),
    _resource("TestReplicaCalcResourceMissingMetrics/some pods missing metrics scales down", ResourceCase(Scenario(4, cpu_requests(4, "1.0"), levels(400, 95)), 100, 3, 24, 495)),
    _resource("TestReplicaCalcResourceMissingMetrics/no change: metric equal to target", ResourceCase(Scenario(2, cpu_requests(2, "1.0"), levels(1000)), 100, 2, 100, 2 * 1000)),
    _resource("TestReplicaCalcResourceMissingMetrics/no change: metric above target", ResourceCase(Scenario(2, cpu_requests(2, "1.0"), levels(1900)), 100, 2, 190, 2 * 1900)),
    _resource("TestReplicaCalcResourceMissingMetrics/no change: metric below target", ResourceCase(Scenario(2, cpu_requests(2, "1.0"), levels(600)), 100, 2, 60, 2 * 600)),
    _resource("TestReplicaCalcResourceMissingMetrics/no change: unready pod metric missing", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(100, 450), readiness=(False, True, True)), 50, 3, 45, 2 * 450)),
    _resource("TestReplicaCalcResourceMissingMetrics/no change: hot-CPU pod metric missing", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(100, 450), start_times=(HOT, COOL, COOL)), 50, 3, 45, 2 * 450)),
    _resource("TestReplicaCalcResourceMissingMetrics/scale up: unready pod metric missing", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(100, 2000), readiness=(False, True, True)), 50, 4, 200, 2 * 2000)),
    _resource("TestReplicaCalcResourceMissingMetrics/scale up: hot-CPU pod metric missing", ResourceCase(Scenario(3, cpu_requests(3, "1.0"), levels(100, 2000), readiness=(False, True, True), start_times=(HOT, COOL, COOL)), 50, 4, 200, 2 * 2000)),
    _resource("TestReplicaCalcResourceMissingMetrics/scale down: unready pod metric missing", ResourceCase(Scenario(4, cpu_requests(4, "1.0"), levels(100, 100, 100), readiness=(False, True, True, True)), 50, 3, 10, 2 * 100)),
    _resource("TestReplicaCalcResourceMissingMetrics/scale down: target over 100", ResourceCase(Scenario(4, ("1.0", "1.0", "2.0", "2.0"), levels(200, 100, 100), readiness=(False, True, True, True)), 300, 2, 6, 2 * 100)),
    _resource("TestReplicaCalcResourceMissingMetrics/rolling update with maxSurge: extra pod missing metric", ResourceCase(Scenario(2, cpu_requests(3, "1.0"), levels(100, 100), phases=(RUNNING,) * 3), 50, 2, 10, 2 * 100)),
    _resource("TestReplicaCalcResourceMissingMetrics/disjoint pod and metric names", ResourceCase(Scenario(1, cpu_requests(1, "1.0"), levels(100), pod_names=("an-older-pod-name",)), 100, error="no metrics returned matched known pods")),
    _resource("TestReplicaCalcResourceMissingMetrics/no metrics returned from metrics API", ResourceCase(Scenario(4, cpu_requests(3, "1.0"), levels()), 100, error="unable to get metrics for resource cpu: no metrics returned from resource metrics API")),
    _resource("TestReplicaCalcResourceMissingMetrics/missing CPU request on container", ResourceCase(Scenario(1, (), levels(200)), 100, error="missing request for")),
]  # fmt: skip


def _computed_tolerance_cases() -> list[object]:
    # TestReplicaCalcComputedToleranceAlgImplementation derives its expectations from
    # the tolerance formula; the derivation is repeated here step by step.
    tolerance = 0.1
    start_pods = 10
    total_used = start_pods * 150
    total_requested = 2 * total_used
    requested_to_used = float(total_requested // total_used)
    per_pod_requested = total_requested // start_pods
    offsets = (100, -100, 10, -10, 2, -2, 1, -1, 0, 0)
    requests = tuple(f"{per_pod_requested + offset}m" for offset in offsets)
    scenario = Scenario(start_pods, requests, levels(*([total_used // 10] * 10)))
    utilization = total_used * 100 // total_requested
    raw_value = 2 * total_used // 10

    target = abs(1 / (requested_to_used * (1 - tolerance))) + 0.01
    used_ratio = float(total_used) / (float(total_requested) * target)
    scaled = ResourceCase(
        scenario, int(target * 100), math.ceil(used_ratio * start_pods), utilization, raw_value
    )
    target = abs(1 / (requested_to_used * (1 - tolerance))) + 0.004
    unscaled = ResourceCase(scenario, int(target * 100), start_pods, utilization, raw_value)
    name = "TestReplicaCalcComputedToleranceAlgImplementation"
    return [
        pytest.param(scaled, id=f"{name}/minimal scale-down"),
        pytest.param(unscaled, id=f"{name}/no scaling within tolerance margin"),
    ]


@pytest.mark.parametrize("case", RESOURCE_CASES + _computed_tolerance_cases())
def test_resource_utilization_replicas(case: ResourceCase) -> None:
    scenario = case.scenario

    def compute() -> object:
        return resource_utilization_replicas(
            current_replicas=scenario.current_replicas,
            target_utilization=case.target_utilization,
            resource="cpu",
            pods=scenario.pods(),
            metrics=scenario.resource_metrics(),
            now=NOW,
            tolerances=case.tolerances,
            container=scenario.container,
            settings=TEST_SETTINGS,
        )

    if case.error is not None:
        with pytest.raises(MetricComputationError, match=case.error):
            compute()
        return
    proposal = compute()
    assert (proposal.replicas, proposal.current_utilization, proposal.current_value) == (  # type: ignore[attr-defined]
        case.replicas,
        case.utilization,
        case.raw_value,
    )


@dataclass(frozen=True)
class MetricCase:
    scenario: Scenario
    target: int
    replicas: int
    usage: int
    tolerances: Tolerances = DEFAULT


ONE_PERCENT_UP = Tolerances(0.1, 0.01)

POD_METRIC_CASES = [
    pytest.param(MetricCase(Scenario(3, metric_levels=(20000, 10000, 30000)), 15000, 4, 20000), id="TestReplicaCalcPodMetric/scale up"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(50000, 10000, 30000), readiness=(True, True, False), start_times=(COOL, COOL, HOT)), 15000, 6, 30000), id="TestReplicaCalcPodMetric/scale up: unready hot-CPU pod scales less"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(50000, 15000, 30000), readiness=(False, True, False), start_times=(HOT, COOL, HOT)), 15000, 7, 31666), id="TestReplicaCalcPodMetric/scale up: unready hot-CPU pods avoid scale-down"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(12000,) * 5), 20000, 3, 12000), id="TestReplicaCalcPodMetric/scale down"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(20000, 21000, 21000)), 20000, 3, 20666), id="TestReplicaCalcPodMetric/within default tolerance"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(20000, 21000, 21000)), 20000, 4, 20666, ONE_PERCENT_UP), id="TestReplicaCalcPodMetric/outside configurable 1% tolerance"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(20000, 19000, 21000)), 20000, 5, 20000), id="TestReplicaCalcPodMetric/no change: missing metrics"),
    pytest.param(MetricCase(Scenario(2, metric_levels=(10000, 10000), phases=(RUNNING,) * 3), 17000, 2, 10000), id="TestReplicaCalcPodMetric/rolling update with maxSurge: extra pod missing metric"),
]  # fmt: skip


@pytest.mark.parametrize("case", POD_METRIC_CASES)
def test_pods_metric_replicas(case: MetricCase) -> None:
    proposal = plain_metric_replicas(
        current_replicas=case.scenario.current_replicas,
        target_usage=case.target,
        pods=case.scenario.pods(),
        metrics=case.scenario.pod_metrics(),
        now=NOW,
        tolerances=case.tolerances,
        settings=TEST_SETTINGS,
    )
    assert (proposal.replicas, proposal.current_value) == (case.replicas, case.usage)


OBJECT_CASES = [
    pytest.param(MetricCase(Scenario(3, metric_levels=(20000,)), 15000, 4, 20000), id="TestReplicaCalcObjectMetric/scale up"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(MAX_INT64,)), 1, MAX_INT32, MAX_INT64), id="TestReplicaCalcObjectMetric/scale up: very large metric saturates replicas to MaxInt32"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(50000,), readiness=(False, True, False)), 10000, 5, 50000), id="TestReplicaCalcObjectMetric/scale up: ignores unready pods"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(12000,)), 20000, 3, 12000), id="TestReplicaCalcObjectMetric/scale down"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(20666,)), 20000, 3, 20666), id="TestReplicaCalcObjectMetric/within default tolerance"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(20666,)), 20000, 4, 20666, ONE_PERCENT_UP), id="TestReplicaCalcObjectMetric/outside configurable 1% tolerance"),
]  # fmt: skip


@pytest.mark.parametrize("case", OBJECT_CASES)
def test_object_metric_replicas(case: MetricCase) -> None:
    proposal = object_metric_replicas(
        current_replicas=case.scenario.current_replicas,
        target_value=case.target,
        value=case.scenario.metric_levels[0],
        pods=case.scenario.pods(),
        tolerances=case.tolerances,
    )
    assert (proposal.replicas, proposal.current_value) == (case.replicas, case.usage)


OBJECT_PER_POD_CASES = [
    pytest.param(MetricCase(Scenario(3, metric_levels=(20000,)), 5000, 4, 6667), id="TestReplicaCalcObjectPerPodMetric/scale up"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(6000,)), 2000, 3, 1200), id="TestReplicaCalcObjectPerPodMetric/scale down"),
    pytest.param(MetricCase(Scenario(4, metric_levels=(20166,)), 5000, 4, 5042), id="TestReplicaCalcObjectPerPodMetric/within default tolerance"),
    pytest.param(MetricCase(Scenario(4, metric_levels=(20208,)), 5000, 5, 5052, ONE_PERCENT_UP), id="TestReplicaCalcObjectPerPodMetric/outside configurable 1% tolerance"),
]  # fmt: skip


@pytest.mark.parametrize("case", OBJECT_PER_POD_CASES)
def test_object_per_pod_metric_replicas(case: MetricCase) -> None:
    proposal = object_per_pod_metric_replicas(
        status_replicas=case.scenario.current_replicas,
        target_average_value=case.target,
        value=case.scenario.metric_levels[0],
        tolerances=case.tolerances,
    )
    assert (proposal.replicas, proposal.current_value) == (case.replicas, case.usage)


HALF_MAX_PLUS_ONE = MAX_INT64 // 2 + 1

EXTERNAL_CASES = [
    pytest.param(MetricCase(Scenario(3, metric_levels=(8600,), readiness=(False, True, False)), 4400, 2, 8600), id="TestReplicaCalcExternalMetric/scale down: ignores unready pods (would otherwise scale up)"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(8600,)), 14334, 3, 8600), id="TestReplicaCalcExternalMetric/scale down"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(8600,)), 8888, 3, 8600), id="TestReplicaCalcExternalMetric/within default tolerance"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(8900,)), 8800, 4, 8900, ONE_PERCENT_UP), id="TestReplicaCalcExternalMetric/outside configurable 1% tolerance"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(HALF_MAX_PLUS_ONE, HALF_MAX_PLUS_ONE)), MAX_INT64, 3, MAX_INT64), id="TestReplicaCalcExternalMetric/usage overflow caps at MaxInt64"),
]  # fmt: skip


@pytest.mark.parametrize("case", EXTERNAL_CASES)
def test_external_metric_replicas(case: MetricCase) -> None:
    proposal = external_metric_replicas(
        current_replicas=case.scenario.current_replicas,
        target_value=case.target,
        values=case.scenario.metric_levels,
        pods=case.scenario.pods(),
        tolerances=case.tolerances,
    )
    assert (proposal.replicas, proposal.current_value) == (case.replicas, case.usage)


EXTERNAL_PER_POD_CASES = [
    pytest.param(MetricCase(Scenario(1, metric_levels=(MAX_INT64,)), 1, MAX_INT32, MAX_INT64), id="TestReplicaCalcExternalPerPodMetric/replica count overflow saturates to MaxInt32"),
    pytest.param(MetricCase(Scenario(1, metric_levels=(MAX_INT64,)), MAX_INT64, 1, MAX_INT64), id="TestReplicaCalcExternalPerPodMetric/usage overflow with huge target leaves replicas unchanged"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(8600,)), 2150, 4, 2867), id="TestReplicaCalcExternalPerPodMetric/scale up"),
    pytest.param(MetricCase(Scenario(5, metric_levels=(8600,)), 2867, 3, 1720), id="TestReplicaCalcExternalPerPodMetric/scale down"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(8600,)), 2900, 3, 2867), id="TestReplicaCalcExternalPerPodMetric/within default tolerance"),
    pytest.param(MetricCase(Scenario(3, metric_levels=(8600,)), 2800, 4, 2867, ONE_PERCENT_UP), id="TestReplicaCalcExternalPerPodMetric/outside configurable 1% tolerance"),
]  # fmt: skip


@pytest.mark.parametrize("case", EXTERNAL_PER_POD_CASES)
def test_external_per_pod_metric_replicas(case: MetricCase) -> None:
    proposal = external_per_pod_metric_replicas(
        status_replicas=case.scenario.current_replicas,
        target_average_value=case.target,
        values=case.scenario.metric_levels,
        tolerances=case.tolerances,
    )
    assert (proposal.replicas, proposal.current_value) == (case.replicas, case.usage)


def _pod(
    name: str,
    phase: PodPhase = PodPhase.SUCCEEDED,
    start: float | None = None,
    ready: ReadyCondition | None = None,
    deleted: bool = False,
) -> PodInfo:
    return PodInfo(name=name, phase=phase, deleted=deleted, start_time=start, ready=ready)


def _sample(timestamp: float = GO_ZERO_TIME, window: float = 0.0) -> PodMetric:
    return PodMetric(1, timestamp=timestamp, window=window)


@dataclass(frozen=True)
class GroupCase:
    pods: tuple[PodInfo, ...]
    metrics: dict[str, PodMetric]
    resource: str
    ready: int
    unready: frozenset[str] = frozenset()
    missing: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()


GROUP_CASES = [
    pytest.param(GroupCase((), {}, "cpu", 0), id="TestGroupPods/void"),
    pytest.param(GroupCase((_pod("bentham"),), {"bentham": _sample(NOW, 60)}, "memory", 1), id="TestGroupPods/count in a ready pod - memory"),
    pytest.param(GroupCase((_pod("lucretius", start=NOW),), {"lucretius": _sample()}, "cpu", 0, unready=frozenset({"lucretius"})), id="TestGroupPods/unready a pod without ready condition - CPU"),
    pytest.param(GroupCase((_pod("bentham", start=NOW - 60, ready=ReadyCondition(True, NOW - 30)),), {"bentham": _sample(NOW, 30)}, "cpu", 1), id="TestGroupPods/count in a ready pod with fresh metrics during initialization period - CPU"),
    pytest.param(GroupCase((_pod("bentham", start=NOW - 60, ready=ReadyCondition(True, NOW - 30)),), {"bentham": _sample(NOW, 60)}, "cpu", 0, unready=frozenset({"bentham"})), id="TestGroupPods/unready a ready pod without fresh metrics during initialization period - CPU"),
    pytest.param(GroupCase((_pod("lucretius", start=NOW - 600, ready=ReadyCondition(False, NOW - 594)),), {"lucretius": _sample()}, "cpu", 0, unready=frozenset({"lucretius"})), id="TestGroupPods/unready an unready pod during initialization period - CPU"),
    pytest.param(GroupCase((_pod("bentham", start=NOW - 180, ready=ReadyCondition(True, NOW - 180)),), {"bentham": _sample(NOW - 120, 60)}, "cpu", 1), id="TestGroupPods/count in a ready pod without fresh metrics after initialization period - CPU"),
    pytest.param(GroupCase((_pod("lucretius", start=NOW - 600, ready=ReadyCondition(False, NOW - 540)),), {"lucretius": _sample()}, "cpu", 1), id="TestGroupPods/count in an unready pod that was ready after initialization period - CPU"),
    pytest.param(GroupCase((_pod("lucretius", start=NOW - 600, ready=ReadyCondition(False, NOW - 590)),), {"lucretius": _sample()}, "cpu", 1), id="TestGroupPods/unready pod that has never been ready after initialization period - CPU"),
    pytest.param(GroupCase((_pod("epicurus", start=NOW - 180),), {}, "cpu", 0, missing=frozenset({"epicurus"})), id="TestGroupPods/a missing pod"),
    pytest.param(GroupCase((_pod("lucretius", start=NOW), _pod("niccolo", start=NOW - 180, ready=ReadyCondition(True, NOW - 180)), _pod("epicurus", start=NOW - 180)), {"lucretius": _sample(), "niccolo": _sample()}, "cpu", 1, unready=frozenset({"lucretius"}), missing=frozenset({"epicurus"})), id="TestGroupPods/several pods"),
    pytest.param(GroupCase((_pod("unscheduled", phase=PodPhase.PENDING),), {}, "cpu", 0, unready=frozenset({"unscheduled"})), id="TestGroupPods/pending pods are unreadied"),
    pytest.param(GroupCase((_pod("deleted", phase=PodPhase.PENDING, deleted=True),), {"deleted": _sample()}, "cpu", 0, ignored=frozenset({"deleted"})), id="TestGroupPods/ignore pods with deletion timestamps"),
    pytest.param(GroupCase((_pod("failed", phase=PodPhase.FAILED),), {"failed": _sample()}, "cpu", 0, ignored=frozenset({"failed"})), id="TestGroupPods/ignore pods in a failed state"),
]  # fmt: skip


@pytest.mark.parametrize("case", GROUP_CASES)
def test_group_pods(case: GroupCase) -> None:
    groups = group_pods(
        case.pods,
        case.metrics,
        case.resource,
        now=NOW,
        cpu_initialization_period=TEST_SETTINGS.cpu_initialization_period,
        delay_of_initial_readiness_status=TEST_SETTINGS.delay_of_initial_readiness_status,
    )
    assert groups.ready_pod_count == case.ready
    assert groups.unready_pods == case.unready
    assert groups.missing_pods == case.missing
    assert groups.ignored_pods == case.ignored


def _containers(*requests: int | None, prefix: str = "container") -> tuple[ContainerSpec, ...]:
    return tuple(
        ContainerSpec(f"{prefix}{index + 1}", {} if request is None else {"cpu": request})
        for index, request in enumerate(requests)
    )


TWO_CONTAINERS = _containers(100, 50)
POD_LEVEL_800 = {"cpu": 800}
SIDECARS = (
    ContainerSpec("init-container1", {"cpu": 20}),
    ContainerSpec("restartable-container1", {"cpu": 50}, restartable_init=True),
)


@dataclass(frozen=True)
class RequestsCase:
    pods: tuple[PodInfo, ...]
    container: str
    pod_level_resources: bool
    expected: dict[str, int] | None
    error: str | None = None


def _request_pod(
    containers: tuple[ContainerSpec, ...],
    pod_level: dict[str, int] | None = None,
    init: tuple[ContainerSpec, ...] = (),
) -> tuple[PodInfo, ...]:
    return (
        PodInfo(
            "test-pod", containers=containers, init_containers=init, pod_level_requests=pod_level
        ),
    )


REQUEST_CASES = [
    pytest.param(RequestsCase((), "", False, {}), id="TestCalculateRequests/void"),
    pytest.param(RequestsCase(_request_pod(TWO_CONTAINERS), "", False, {"test-pod": 150}), id="TestCalculateRequests/Sum container requests if pod-level feature is disabled"),
    pytest.param(RequestsCase(_request_pod(TWO_CONTAINERS), "", True, {"test-pod": 150}), id="TestCalculateRequests/Pod-level resources are enabled, but not set: fallback to sum container requests"),
    pytest.param(RequestsCase(_request_pod(TWO_CONTAINERS, POD_LEVEL_800), "", True, {"test-pod": 800}), id="TestCalculateRequests/Pod-level resources override container requests when feature enabled and pod resources specified"),
    pytest.param(RequestsCase(_request_pod(_containers(None, 50)), "", False, None, "missing request for cpu in container container1 of Pod test-pod"), id="TestCalculateRequests/Fail if at least one of the containers is missing requests and pod-level feature/requests are not set"),
    pytest.param(RequestsCase(_request_pod(_containers(None, 50), POD_LEVEL_800), "", True, {"test-pod": 800}), id="TestCalculateRequests/Pod-level resources override missing container requests when feature enabled and pod resources specified"),
    pytest.param(RequestsCase(_request_pod(TWO_CONTAINERS), "container1", False, {"test-pod": 100}), id="TestCalculateRequests/Container: if a container name is specified, calculate requests only for that container"),
    pytest.param(RequestsCase(_request_pod(TWO_CONTAINERS, POD_LEVEL_800), "container1", True, {"test-pod": 100}), id="TestCalculateRequests/Container: if a container name is specified, calculate requests only for that container and ignore pod-level requests"),
    pytest.param(RequestsCase(_request_pod(_containers(100), init=SIDECARS), "", False, {"test-pod": 150}), id="TestCalculateRequests/pod with restartable init containers"),
]  # fmt: skip


@pytest.mark.parametrize("case", REQUEST_CASES)
def test_calculate_requests(case: RequestsCase) -> None:
    def compute() -> dict[str, int]:
        return calculate_requests(
            case.pods, case.container, "cpu", pod_level_resources=case.pod_level_resources
        )

    if case.error is not None:
        with pytest.raises(MetricComputationError) as raised:
            compute()
        assert str(raised.value) == case.error
        return
    assert compute() == case.expected


def test_calculate_pod_requests_from_containers_non_existent_container() -> None:
    """TestCalculatePodRequestsFromContainers_NonExistentContainer."""
    pod = PodInfo("test-pod", containers=(ContainerSpec("container1", {"cpu": 100}),))
    with pytest.raises(MetricComputationError) as raised:
        calculate_pod_request_from_containers(pod, "non-existent-container", "cpu")
    assert str(raised.value) == "container non-existent-container not found in Pod test-pod"
