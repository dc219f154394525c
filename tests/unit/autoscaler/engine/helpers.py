"""Builders that turn upstream's test fixtures into the engine's inputs.

They mirror the fake clients of ``replica_calculator_test.go`` (``buildFakePod``,
``newFakeResourceMetricsClient``, ...): every pod has two containers, ``container1``
and ``container2``, each requesting the pod's CPU request; a resource metric level
is given per container; unset start times and transition times are Go's zero time.
"""

from __future__ import annotations

from dataclasses import dataclass

from podpilot.apimachinery.quantities import milli_value
from podpilot.autoscaler.engine import (
    CalculatorSettings,
    ContainerSpec,
    PodInfo,
    PodMetric,
    PodPhase,
)
from podpilot.autoscaler.engine.model import ReadyCondition
from podpilot.autoscaler.engine.utilization import pod_usage_from_containers

NOW = 1_700_000_000.0
GO_ZERO_TIME = -62_135_596_800.0
HOT_CPU_CREATION_TIME = NOW
COOL_CPU_CREATION_TIME = NOW - 180.0
CONTAINERS_PER_POD = 2

# defaultTestingCPUInitializationPeriod and defaultTestingDelayOfInitialReadinessStatus
TEST_SETTINGS = CalculatorSettings(
    cpu_initialization_period=120.0, delay_of_initial_readiness_status=10.0
)


def levels(*per_pod: int) -> tuple[tuple[int, ...], ...]:
    """``makePodMetricLevels``: every container of pod i reports ``per_pod[i]``."""
    return tuple((value,) * CONTAINERS_PER_POD for value in per_pod)


def cpu_requests(count: int, quantity: str) -> tuple[str, ...]:
    """``cpuRequests``: ``count`` identical CPU requests."""
    return (quantity,) * count


@dataclass(frozen=True)
class Scenario:
    """``calcScenario``/``replicaCalcTestCase``: the pods and samples of one case."""

    current_replicas: int
    requests: tuple[str, ...] = ()
    resource_levels: tuple[tuple[int, ...], ...] = ()
    pod_names: tuple[str, ...] = ()
    container: str = ""
    metric_levels: tuple[int, ...] = ()
    readiness: tuple[bool, ...] | None = None
    start_times: tuple[float, ...] | None = None
    phases: tuple[PodPhase, ...] | None = None
    deleted: tuple[bool, ...] | None = None

    def pods(self) -> list[PodInfo]:
        count = self.current_replicas
        if self.phases is not None and len(self.phases) > count:
            count = len(self.phases)
        pods = []
        for index in range(count):
            ready = True
            if self.readiness is not None and index < len(self.readiness):
                ready = self.readiness[index]
            requests = (
                {"cpu": milli_value(self.requests[index])} if index < len(self.requests) else {}
            )
            pods.append(
                PodInfo(
                    name=f"test-pod-{index}",
                    phase=self.phases[index] if self.phases is not None else PodPhase.RUNNING,
                    deleted=self.deleted[index] if self.deleted is not None else False,
                    start_time=(
                        self.start_times[index] if self.start_times is not None else GO_ZERO_TIME
                    ),
                    ready=ReadyCondition(ready, GO_ZERO_TIME),
                    containers=(
                        ContainerSpec("container1", requests),
                        ContainerSpec("container2", requests),
                    ),
                )
            )
        return pods

    def resource_metrics(self) -> dict[str, PodMetric]:
        metrics = {}
        for index, per_container in enumerate(self.resource_levels):
            name = self.pod_names[index] if index < len(self.pod_names) else f"test-pod-{index}"
            usages: list[tuple[str, dict[str, int]]] = [
                (f"container{slot + 1}", {"cpu": value}) for slot, value in enumerate(per_container)
            ]
            # The fake always lists two containers; unfilled ones have no usage.
            usages += [("", {})] * (CONTAINERS_PER_POD - len(per_container))
            value = pod_usage_from_containers(usages, "cpu", self.container)
            if value is not None:
                metrics[name] = PodMetric(value, timestamp=GO_ZERO_TIME, window=60.0)
        return metrics

    def pod_metrics(self) -> dict[str, PodMetric]:
        return {
            f"test-pod-{index}": PodMetric(value, timestamp=GO_ZERO_TIME, window=60.0)
            for index, value in enumerate(self.metric_levels)
        }
