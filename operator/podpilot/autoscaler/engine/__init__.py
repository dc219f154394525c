"""The HPA decision engine: a pure port of the Kubernetes HorizontalPodAutoscaler.

What lives here, module by module (each mirrors named upstream functions in
``pkg/controller/podautoscaler``, so the two can be read side by side):

- ``model``: pods, metric samples, tolerances, units and defaults;
- ``errors``: the errors it raises, in upstream's words;
- ``pod_grouping``: ``group_pods`` (``groupPods``), ``remove_metrics_for_pods``;
- ``requests``: ``calculate_requests`` (pod-level and container requests);
- ``utilization``: usage ratios (``metrics/utilization.go``) and per-pod sums;
- ``replica_calculator``: one proposal function per metric source and target type;
- ``stabilization``, ``behavior``, ``normalization``: from a proposal to the count to
  apply, with and without ``spec.behavior``;
- ``history``: recommendations and scale events as persistable values;
- ``conditions``: HPA condition types and reasons;
- ``scale_to_zero``: when a target at zero is left alone (``HPAScaleToZero``);
- ``decision``: ``decide`` and ``record_rescale``, the whole reconcile decision.

This package must stay pure: no kopf, no Kubernetes client, no network or file I/O,
and no clock reads. Time is always the ``now`` argument (float epoch seconds). An
import-linter contract enforces the import side of this. Callers convert API objects
to the dataclasses of ``model`` (quantities via ``podpilot.apimachinery.quantities.milli_value``).
"""

from .behavior import (
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    tolerances_for,
)
from .conditions import Condition, ConditionType, Reason
from .decision import Decision, MetricOutcome, decide, record_rescale
from .errors import MetricComputationError
from .history import ScaleEvent, ScalingHistory, TimestampedRecommendation
from .model import ContainerSpec, PodInfo, PodMetric, PodPhase, ReadyCondition, Tolerances
from .replica_calculator import (
    CalculatorSettings,
    ReplicaProposal,
    external_metric_replicas,
    external_per_pod_metric_replicas,
    object_metric_replicas,
    object_per_pod_metric_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)

__all__ = [
    "Behavior",
    "CalculatorSettings",
    "Condition",
    "ConditionType",
    "ContainerSpec",
    "Decision",
    "MetricComputationError",
    "MetricOutcome",
    "PodInfo",
    "PodMetric",
    "PodPhase",
    "PolicyType",
    "ReadyCondition",
    "Reason",
    "ReplicaProposal",
    "ScaleEvent",
    "ScalingHistory",
    "ScalingPolicy",
    "ScalingRules",
    "SelectPolicy",
    "TimestampedRecommendation",
    "Tolerances",
    "decide",
    "external_metric_replicas",
    "external_per_pod_metric_replicas",
    "object_metric_replicas",
    "object_per_pod_metric_replicas",
    "plain_metric_replicas",
    "record_rescale",
    "resource_utilization_replicas",
    "tolerances_for",
]
