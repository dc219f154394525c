"""An Autoscaler's spec, parsed from the custom resource into typed values.

The apiserver already validated the object against the CRD (OpenAPI schema and CEL), so this
parser only converts; a ``SpecError`` here means the object predates a schema change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from podpilot.apimachinery.quantities import QuantityError, milli_value, parse_quantity
from podpilot.autoscaler.engine import (
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)

from .metric_types import METRIC_TYPES

DEFAULT_EVALUATION_PERIOD = 15
DEFAULT_COOLDOWN = 300


# Each metric type and the name of the block that carries its source.
SOURCE_BLOCKS = {name: kind.block for name, kind in METRIC_TYPES.items()}


class SpecError(ValueError):
    """The spec cannot be turned into a model; the message names the field."""


class Mode(enum.StrEnum):
    ACTIVE = "Active"
    DRY_RUN = "DryRun"


class FallbackPolicy(enum.StrEnum):
    HOLD = "Hold"
    STATIC = "Static"


@dataclass(frozen=True)
class ObjectReference:
    """``scaleTargetRef`` or a metric's ``describedObject``."""

    api_version: str
    kind: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.split("/")[-1]


@dataclass(frozen=True)
class MetricTarget:
    """``target``: the type and its one value (Utilization in percent, others in milli-units)."""

    type: str
    average_utilization: int | None = None
    value: int | None = None
    average_value: int | None = None


@dataclass(frozen=True)
class PrometheusMetric:
    """A ``prometheus`` block: which server, what query, how to read its result."""

    server: str
    query: str
    reduction: str = "Sum"
    empty_result: str = "Error"


@dataclass(frozen=True)
class MetricSpec:
    """One entry of ``spec.metrics``; ``raw`` keeps the entry for status and explanations."""

    type: str
    target: MetricTarget
    resource: str = ""
    container: str = ""
    metric_name: str = ""
    metric_selector: Mapping[str, Any] | None = None
    described_object: ObjectReference | None = None
    prometheus: PrometheusMetric | None = None
    activation_threshold: int | None = None  # milli-units; Object, External, Prometheus
    raw: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0  # its place in spec.metrics (at zero replicas, only some are read)

    @property
    def wakes(self) -> bool:
        """Whether it can wake a workload at zero (Object, External, Prometheus: read there,
        with an activation threshold); a per-pod metric has no pod to read at zero."""
        kind = METRIC_TYPES.get(self.type)
        return kind is not None and kind.activates

    @property
    def display_name(self) -> str:
        """The metric's name as the HPA words it in events and conditions."""
        kind = METRIC_TYPES.get(self.type)
        if kind is None:
            return f"{self.type.lower()} metric {self.metric_name}"
        return kind.display_name(self)


@dataclass(frozen=True)
class FallbackSpec:
    """What to do when every metric fails: hold, or recommend a static count once metrics have
    failed for ``failure_threshold`` evaluation periods; lower the count only if allowed."""

    policy: FallbackPolicy = FallbackPolicy.HOLD
    replicas: int | None = None
    failure_threshold: int = 3  # evaluation periods of wall time, not failed evaluations
    allow_scale_down: bool = False


@dataclass(frozen=True)
class AutoscalerSpec:
    """The whole spec in typed form."""

    target: ObjectReference
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    behavior: Behavior | None
    evaluation_period: int = DEFAULT_EVALUATION_PERIOD
    paused: bool = False
    mode: Mode = Mode.ACTIVE
    fallback: FallbackSpec = FallbackSpec()
    cooldown: int = DEFAULT_COOLDOWN

    @property
    def fallback_delay(self) -> float:
        """Seconds every metric must have been failing before the fallback applies."""
        return float(self.fallback.failure_threshold * self.evaluation_period)

    @property
    def metric_types(self) -> tuple[str, ...]:
        return tuple(metric.type for metric in self.metrics)


def _quantity(value: Any, field_path: str, minimum: str) -> Decimal:
    """A quantity field as the HPA takes it (a number or a string), held to the same bounds as
    the CRD's ValidatingAdmissionPolicy, which a cluster may not enforce (only the CRD applied,
    a backtest's file): ``minimum`` is ``positive`` or ``non-negative``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SpecError(f"{field_path} must be a number or a quantity such as 0.5, 500m or 2Gi")
    try:
        quantity = parse_quantity(str(value))
    except QuantityError as error:
        raise SpecError(f"{field_path}: {error}") from error
    if minimum == "positive" and quantity <= 0:
        raise SpecError(f"{field_path} must be a positive quantity")
    if minimum == "non-negative" and quantity < 0:
        raise SpecError(f"{field_path} must be zero or a positive quantity")
    return quantity


def _milli(value: Any, field_path: str, minimum: str = "positive") -> int:
    return milli_value(_quantity(value, field_path, minimum))


def _reference(raw: Mapping[str, Any], field_path: str) -> ObjectReference:
    try:
        return ObjectReference(
            api_version=str(raw.get("apiVersion", "")), kind=str(raw["kind"]), name=str(raw["name"])
        )
    except KeyError as error:
        raise SpecError(f"{field_path}.{error.args[0]} is required") from error


def _target(raw: Mapping[str, Any], field_path: str) -> MetricTarget:
    target_type = str(raw.get("type", ""))
    for key, named_by in (("value", "Value"), ("averageValue", "AverageValue")):
        if (target_type == named_by) != (raw.get(key) is not None):
            raise SpecError(
                f"{field_path}.{key} must be set if and only if target.type is {named_by}"
            )
    utilization = raw.get("averageUtilization")
    return MetricTarget(
        type=target_type,
        average_utilization=int(utilization) if utilization is not None else None,
        value=_milli(raw["value"], f"{field_path}.value") if "value" in raw else None,
        average_value=(
            _milli(raw["averageValue"], f"{field_path}.averageValue")
            if "averageValue" in raw
            else None
        ),
    )


def parse_metric(raw: Mapping[str, Any], index: int) -> MetricSpec:
    """Parse ``spec.metrics[index]``."""
    metric_type = str(raw.get("type", ""))
    path = f"spec.metrics[{index}]"
    block_name = SOURCE_BLOCKS.get(metric_type)
    if block_name is None or block_name not in raw:
        raise SpecError(f"{path}: type {metric_type!r} needs its matching source block")
    block: Mapping[str, Any] = raw[block_name]
    target = _target(block.get("target", {}), f"{path}.{block_name}.target")
    identifier: Mapping[str, Any] = block.get("metric", {})
    described = block.get("describedObject")
    activation = block.get("activationThreshold")
    prometheus = None
    if metric_type == "Prometheus":
        prometheus = PrometheusMetric(
            server=str((block.get("serverRef") or {}).get("name", "")),
            query=str(block.get("query", "")),
            reduction=str(block.get("reduction", "Sum")),
            empty_result=str(block.get("emptyResult", "Error")),
        )
    return MetricSpec(
        type=metric_type,
        target=target,
        resource=str(block.get("name", "")) if METRIC_TYPES[metric_type].names_a_resource else "",
        container=str(block.get("container", "")),
        metric_name=str(identifier.get("name", "")),
        metric_selector=identifier.get("selector"),
        described_object=(
            _reference(described, f"{path}.object.describedObject") if described else None
        ),
        prometheus=prometheus,
        activation_threshold=(
            _milli(activation, f"{path}.{block_name}.activationThreshold", "non-negative")
            if activation is not None
            else None
        ),
        raw=raw,
        index=index,
    )


def _rules(raw: Mapping[str, Any] | None, field_path: str) -> ScalingRules | None:
    if raw is None:
        return None
    policies = raw.get("policies")
    window = raw.get("stabilizationWindowSeconds")
    select = raw.get("selectPolicy")
    tolerance = raw.get("tolerance")
    return ScalingRules(
        stabilization_window_seconds=int(window) if window is not None else None,
        select_policy=SelectPolicy(select) if select is not None else None,
        policies=(
            tuple(
                _policy(policy, f"{field_path}.policies[{index}]")
                for index, policy in enumerate(policies)
            )
            if policies is not None
            else None
        ),
        tolerance=(
            float(_quantity(tolerance, f"{field_path}.tolerance", "non-negative"))
            if tolerance is not None
            else None
        ),
    )


def _policy(raw: Mapping[str, Any], field_path: str) -> ScalingPolicy:
    try:
        return ScalingPolicy(PolicyType(raw["type"]), int(raw["value"]), int(raw["periodSeconds"]))
    except KeyError as error:
        raise SpecError(f"{field_path}.{error.args[0]} is required") from error


def parse_behavior(raw: Mapping[str, Any] | None) -> Behavior | None:
    """``spec.behavior``; None keeps the HPA's legacy normalization path."""
    if raw is None:
        return None
    return Behavior(
        scale_up=_rules(raw.get("scaleUp"), "spec.behavior.scaleUp"),
        scale_down=_rules(raw.get("scaleDown"), "spec.behavior.scaleDown"),
    )


def parse_spec(raw: Mapping[str, Any]) -> AutoscalerSpec:
    """Parse an Autoscaler's ``spec``."""
    if "scaleTargetRef" not in raw:
        raise SpecError("spec.scaleTargetRef is required")
    fallback_raw: Mapping[str, Any] = raw.get("fallback") or {}
    fallback = FallbackSpec(
        policy=FallbackPolicy(fallback_raw.get("policy", FallbackPolicy.HOLD)),
        replicas=(int(fallback_raw["replicas"]) if "replicas" in fallback_raw else None),
        failure_threshold=int(fallback_raw.get("failureThreshold", 3)),
        allow_scale_down=bool(fallback_raw.get("allowScaleDown", False)),
    )
    metrics_raw = raw.get("metrics") or [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    return AutoscalerSpec(
        target=_reference(raw["scaleTargetRef"], "spec.scaleTargetRef"),
        min_replicas=int(raw.get("minReplicas", 1)),
        max_replicas=int(raw["maxReplicas"]),
        metrics=tuple(parse_metric(metric, index) for index, metric in enumerate(metrics_raw)),
        behavior=parse_behavior(raw.get("behavior")),
        evaluation_period=int(raw.get("evaluationPeriodSeconds", DEFAULT_EVALUATION_PERIOD)),
        paused=bool(raw.get("paused", False)),
        mode=Mode(raw.get("mode", Mode.ACTIVE)),
        fallback=fallback,
        cooldown=int(raw.get("cooldownSeconds", DEFAULT_COOLDOWN)),
    )


__all__ = [
    "AutoscalerSpec",
    "FallbackPolicy",
    "FallbackSpec",
    "MetricSpec",
    "MetricTarget",
    "Mode",
    "ObjectReference",
    "PrometheusMetric",
    "SpecError",
    "parse_spec",
]
