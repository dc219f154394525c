"""Plain values the engine reads: pods, metric samples, targets, tolerances and rules.

Units, everywhere in the package:

- quantities (CPU, memory, custom metric values) are integer milli-units, as
  ``Quantity.MilliValue()`` gives them: 1 CPU is 1000, a metric value of 15 is 15000;
- utilization targets are integer percentages;
- instants are float seconds since the Unix epoch, durations are float seconds.
  The engine never reads a clock: the caller passes ``now``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from podpilot.apimachinery.quantities import MAX_INT64
from podpilot.settings import HpaSettings

__all__ = [
    "CPU",
    "DEFAULT_CPU_INITIALIZATION_PERIOD",
    "DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS",
    "DEFAULT_DOWNSCALE_STABILIZATION_WINDOW",
    "DEFAULT_METRIC_WINDOW",
    "DEFAULT_TOLERANCE",
    "MAX_INT32",
    "MAX_INT64",
    "MIN_INT32",
    "ContainerSpec",
    "PodInfo",
    "PodMetric",
    "PodPhase",
    "ReadyCondition",
    "Tolerances",
]

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)

CPU = "cpu"

# kube-controller-manager's defaults, under the names the HPA controller's code gives them.
DEFAULT_TOLERANCE = HpaSettings.tolerance
DEFAULT_CPU_INITIALIZATION_PERIOD = HpaSettings.cpu_initialization_period
DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS = HpaSettings.initial_readiness_delay
DEFAULT_DOWNSCALE_STABILIZATION_WINDOW = HpaSettings.downscale_stabilization
DEFAULT_METRIC_WINDOW = 60.0


class PodPhase(enum.StrEnum):
    """The ``status.phase`` of a pod."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class ReadyCondition:
    """The pod's ``Ready`` condition.

    Attributes:
        status: True, False, or None for ``Unknown``.
        last_transition_time: When the status last changed (epoch seconds).
    """

    status: bool | None
    last_transition_time: float


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of a pod spec, reduced to what request sums need.

    Attributes:
        name: Container name, unique in the pod.
        requests: Resource name to request, in milli-units. A missing key means
            "no request for that resource".
        restartable_init: True for an init container with ``restartPolicy: Always``
            (a sidecar). Only meaningful in ``PodInfo.init_containers``.
    """

    name: str
    requests: Mapping[str, int] = field(default_factory=dict)
    restartable_init: bool = False


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A pod selected by the scale target's selector.

    Attributes:
        name: Pod name; metrics are matched to pods by this name.
        phase: ``status.phase``.
        deleted: True when ``metadata.deletionTimestamp`` is set.
        start_time: ``status.startTime`` (epoch seconds), or None if unset.
        ready: The ``Ready`` condition, or None if the pod has none.
        containers: Regular containers.
        init_containers: Init containers; only restartable ones (sidecars) count.
        pod_level_requests: ``spec.resources.requests`` (pod-level resources,
            KEP-2837), or None when the pod sets none.
    """

    name: str
    phase: PodPhase = PodPhase.RUNNING
    deleted: bool = False
    start_time: float | None = None
    ready: ReadyCondition | None = None
    containers: tuple[ContainerSpec, ...] = ()
    init_containers: tuple[ContainerSpec, ...] = ()
    pod_level_requests: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PodMetric:
    """One pod's metric sample, as the metrics APIs report it.

    Attributes:
        value: Usage in milli-units (the sum over containers for a whole-pod
            resource metric).
        timestamp: When the sample was taken (epoch seconds).
        window: The sampling window in seconds.
    """

    value: int
    timestamp: float = 0.0
    window: float = DEFAULT_METRIC_WINDOW


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Per-direction tolerance around a usage ratio of 1 (KEP-4951).

    Attributes:
        scale_down: How far below 1 a ratio may fall without scaling down.
        scale_up: How far above 1 a ratio may rise without scaling up.
    """

    scale_down: float = DEFAULT_TOLERANCE
    scale_up: float = DEFAULT_TOLERANCE

    def is_within(self, usage_ratio: float) -> bool:
        """Whether the ratio is inside the band ``[1 - down, 1 + up]`` (inclusive).

        Port of ``Tolerances.isWithin`` in ``replica_calculator.go``.
        """
        return (1.0 - self.scale_down) <= usage_ratio <= (1.0 + self.scale_up)

    def describe(self) -> str:
        """Human-readable form, e.g. ``-10%/+10%``."""
        return f"-{self.scale_down * 100:g}%/+{self.scale_up * 100:g}%"
