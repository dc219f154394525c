"""An Autoscaler's spec, parsed from the custom resource into typed values.

The apiserver already validated a stored object against the CRD (OpenAPI schema and CEL); a
file given to ``podpilot convert``, ``backtest`` or ``recommend`` never met one. So the metric
entries are held to the CRD's rules, and their quantities to its ValidatingAdmissionPolicy's,
before they are parsed: nothing the CRD refuses reaches the engine, and nothing it accepts is
refused. A ``SpecError`` from a stored object means it predates a schema change.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from podpilot.apimachinery.quantities import QuantityError, milli_value, parse_quantity
from podpilot.apimachinery.selectors import SELECTOR_OPERATORS
from podpilot.autoscaler.engine import (
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)

from .metric_types import METRIC_TYPES, History

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
    def history(self) -> History | None:
        """Where a backtest finds its past values; None for a type it cannot replay."""
        kind = METRIC_TYPES.get(self.type)
        return None if kind is None else kind.history

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


DEFAULT_METRICS: tuple[Mapping[str, Any], ...] = (
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    },
)
"""What an Autoscaler without ``metrics`` scales on, as the HPA: 80 % of the pods' CPU requests."""


def _reference(raw: Mapping[str, Any], field_path: str) -> ObjectReference:
    try:
        return ObjectReference(
            api_version=str(raw.get("apiVersion") or ""),
            kind=str(raw["kind"]),
            name=str(raw["name"]),
        )
    except KeyError as error:
        raise SpecError(f"{field_path}.{error.args[0]} is required") from error


# The CRD's rules for an entry of spec.metrics (crds/autoscalers.podpilot.io.yaml), worded as
# its messages with the entry's index filled in. A file given to convert, backtest or recommend
# never met the apiserver, and past these rules the engine divides by a target.
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
REDUCTIONS = ("Sum", "Max", "Min", "Average")
EMPTY_RESULTS = ("Error", "Zero")
CONTAINER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class SourceRules:
    """What the CRD asks of one metric type's source block."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    target_types: tuple[str, ...]
    why_only_these: str  # the CRD's reason, said after the allowed target types


_PER_POD_RESOURCE = (
    ("Utilization", "AverageValue"),
    "a Value target is not defined for per-pod resources",
)
_NOT_A_RESOURCE = (("Value", "AverageValue"), "Utilization is only defined for resource metrics")
SOURCE_RULES: Mapping[str, SourceRules] = {
    "Resource": SourceRules(("name", "target"), (), *_PER_POD_RESOURCE),
    "ContainerResource": SourceRules(("name", "container", "target"), (), *_PER_POD_RESOURCE),
    "Pods": SourceRules(
        ("metric", "target"), (), ("AverageValue",), "pod metrics are always averaged over the pods"
    ),
    "Object": SourceRules(("describedObject", "metric", "target"), (), *_NOT_A_RESOURCE),
    "External": SourceRules(("metric", "target"), (), *_NOT_A_RESOURCE),
    "Prometheus": SourceRules(
        ("serverRef", "query", "target"), ("reduction", "emptyResult"), *_NOT_A_RESOURCE
    ),
}


def _object(value: Any, field_path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{field_path} must be an object, not {value!r}")
    return value


def _list(value: Any, field_path: str, max_items: int) -> Sequence[Any]:
    if not isinstance(value, list):
        raise SpecError(f"{field_path} must be a list, not {value!r}")
    _at_most(value, max_items, field_path)
    return value


def _at_most(items: Sequence[Any] | Mapping[str, Any], limit: int, field_path: str) -> None:
    if len(items) > limit:
        raise SpecError(f"{field_path}: Too many: {len(items)}: must have at most {limit} items")


def _text(value: Any, field_path: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{field_path} must be a string, not {value!r}")
    if len(value) > max_length:
        raise SpecError(f"{field_path}: Too long: may not be longer than {max_length}")
    return value


def _require(raw: Mapping[str, Any], keys: Sequence[str], field_path: str) -> None:
    # A null field counts as unset: the apiserver drops it before it validates.
    for key in keys:
        if raw.get(key) is None:
            raise SpecError(f"{field_path}.{key}: Required value")


def _one_of(value: Any, allowed: Collection[str], field_path: str) -> str:
    if value not in allowed:
        supported = ", ".join(f'"{name}"' for name in allowed)
        shown = json.dumps(value, ensure_ascii=False, default=str)
        raise SpecError(f"{field_path}: Unsupported value: {shown}: supported values: {supported}")
    return str(value)


def _names_an_object(name: str) -> bool:
    """The CRD's rule for an object or metric name: a path segment of a request URL."""
    return name not in ("", ".", "..") and "/" not in name and "%" not in name


def _resource_name(value: Any, field_path: str) -> None:
    if not _text(value, field_path, 253):
        raise SpecError(f"{field_path} must name a resource such as cpu")


def _container_name(value: Any, field_path: str) -> None:
    name = _text(value, field_path, 63)
    if not CONTAINER_NAME.fullmatch(name):
        raise SpecError(
            f"{field_path}: Invalid value: {json.dumps(name, ensure_ascii=False)}: should match "
            f"'^{CONTAINER_NAME.pattern}$'"
        )


def _metric_identifier(value: Any, field_path: str) -> None:
    identifier = _object(value, field_path)
    _require(identifier, ("name",), field_path)
    if not _names_an_object(_text(identifier["name"], f"{field_path}.name", 253)):
        raise SpecError(f"{field_path}.name must be a non-empty metric name without '/' or '%'")
    if identifier.get("selector") is not None:
        _selector(identifier["selector"], f"{field_path}.selector")


def _selector(value: Any, field_path: str) -> None:
    selector = _object(value, field_path)
    if selector.get("matchLabels") is not None:
        labels = _object(selector["matchLabels"], f"{field_path}.matchLabels")
        _at_most(labels, 32, f"{field_path}.matchLabels")
        for key, label in labels.items():
            _text(label, f"{field_path}.matchLabels.{key}", 63)
    if selector.get("matchExpressions") is not None:
        expressions_path = f"{field_path}.matchExpressions"
        for index, expression in enumerate(
            _list(selector["matchExpressions"], expressions_path, 32)
        ):
            _label_requirement(expression, f"{expressions_path}[{index}]")


def _label_requirement(value: Any, field_path: str) -> None:
    requirement = _object(value, field_path)
    _require(requirement, ("key", "operator"), field_path)
    _text(requirement["key"], f"{field_path}.key", 317)
    _one_of(requirement["operator"], SELECTOR_OPERATORS, f"{field_path}.operator")
    if requirement.get("values") is not None:
        values = _list(requirement["values"], f"{field_path}.values", 64)
        for index, label in enumerate(values):
            _text(label, f"{field_path}.values[{index}]", 63)


def _described_object(value: Any, field_path: str) -> None:
    described = _object(value, field_path)
    _require(described, ("kind", "name"), field_path)
    if described.get("apiVersion") is not None:
        _text(described["apiVersion"], f"{field_path}.apiVersion", 253)
    kind = _text(described["kind"], f"{field_path}.kind", 63)
    if not kind or "/" in kind or "%" in kind:
        raise SpecError(
            f"{field_path}.kind must be a non-empty kind name without '/' or '%', for example "
            "Deployment"
        )
    if not _names_an_object(_text(described["name"], f"{field_path}.name", 253)):
        raise SpecError(f"{field_path}.name must be a non-empty object name without '/' or '%'")


def _server_ref(value: Any, field_path: str) -> None:
    server = _object(value, field_path)
    _require(server, ("name",), field_path)
    if not _text(server["name"], f"{field_path}.name", 253):
        raise SpecError(f"{field_path}.name must name a Prometheus server")


def _query(value: Any, field_path: str) -> None:
    if not _text(value, field_path, 4096).strip():
        raise SpecError(f"{field_path} must be a non-empty PromQL query")


def _enum_rule(allowed: Sequence[str]) -> Callable[[Any, str], None]:
    def check(value: Any, field_path: str) -> None:
        _one_of(value, allowed, field_path)

    return check


# How each field of a source block is checked; the target and activationThreshold are read
# (and checked) as they are parsed.
FIELD_RULES: Mapping[str, Callable[[Any, str], None]] = {
    "name": _resource_name,
    "container": _container_name,
    "metric": _metric_identifier,
    "describedObject": _described_object,
    "serverRef": _server_ref,
    "query": _query,
    "reduction": _enum_rule(REDUCTIONS),
    "emptyResult": _enum_rule(EMPTY_RESULTS),
}


def _check_metric(raw: Mapping[str, Any], field_path: str) -> str:
    """Hold one metric entry to the CRD's rules and return its type; its quantities are held
    to theirs as ``_target`` and ``_milli`` parse them."""
    if raw.get("type") is None:
        raise SpecError(f"{field_path}.type: Required value")
    metric_type = _one_of(raw["type"], tuple(METRIC_TYPES), f"{field_path}.type")
    _check_only_its_block(raw, metric_type, field_path)
    block_path = f"{field_path}.{SOURCE_BLOCKS[metric_type]}"
    block = _object(raw[SOURCE_BLOCKS[metric_type]], block_path)
    rules = SOURCE_RULES[metric_type]
    _require(block, rules.required, block_path)
    for key in (*rules.required, *rules.optional):
        if key in FIELD_RULES and block.get(key) is not None:
            FIELD_RULES[key](block[key], f"{block_path}.{key}")
    _check_target(block["target"], rules, f"{block_path}.target")
    return metric_type


def _check_only_its_block(raw: Mapping[str, Any], metric_type: str, field_path: str) -> None:
    # The block the type names is looked for first, so that its absence is what is said.
    named_first = sorted(SOURCE_BLOCKS.items(), key=lambda item: item[0] != metric_type)
    for block_type, block_name in named_first:
        if (raw.get(block_name) is not None) != (block_type == metric_type):
            raise SpecError(
                f"{field_path}.{block_name} must be set if and only if type is {block_type}; "
                "keep exactly the source block that type names"
            )


def _check_target(value: Any, rules: SourceRules, field_path: str) -> None:
    target = _object(value, field_path)
    _require(target, ("type",), field_path)
    target_type = _one_of(target["type"], TARGET_TYPES, f"{field_path}.type")
    utilization = target.get("averageUtilization")
    if utilization is not None and _int32(utilization, f"{field_path}.averageUtilization") < 1:
        raise SpecError(
            f"{field_path}.averageUtilization must be at least 1 (percent of the pods' "
            f"requests), not {utilization}"
        )
    if target_type not in rules.target_types:
        raise SpecError(
            f"{field_path}.type must be {' or '.join(rules.target_types)} for this metric "
            f"source; {rules.why_only_these}"
        )
    for key, named_by in (
        ("averageUtilization", "Utilization"),
        ("value", "Value"),
        ("averageValue", "AverageValue"),
    ):
        if (target_type == named_by) != (target.get(key) is not None):
            raise SpecError(
                f"{field_path}.{key} must be set if and only if target.type is {named_by}; set "
                "only the field that target.type names"
            )


def _int32(value: Any, field_path: str) -> int:
    """An integer field, taken as the apiserver takes it: a whole float is that integer."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not -(2**31) <= value < 2**31:
        raise SpecError(f"{field_path} must be an integer (int32), not {value!r}")
    return int(value)


def _target(raw: Mapping[str, Any], field_path: str) -> MetricTarget:
    """A target ``_check_target`` passed: its one value, a quantity held to the bounds of the
    CRD's ValidatingAdmissionPolicy."""
    utilization = raw.get("averageUtilization")
    value = raw.get("value")
    average_value = raw.get("averageValue")
    return MetricTarget(
        type=str(raw["type"]),
        average_utilization=int(utilization) if utilization is not None else None,
        value=_milli(value, f"{field_path}.value") if value is not None else None,
        average_value=(
            _milli(average_value, f"{field_path}.averageValue")
            if average_value is not None
            else None
        ),
    )


def parse_metric(raw: Mapping[str, Any], index: int) -> MetricSpec:
    """Parse ``spec.metrics[index]``, once it keeps the CRD's rules."""
    path = f"spec.metrics[{index}]"
    metric_type = _check_metric(_object(raw, path), path)
    block_name = SOURCE_BLOCKS[metric_type]
    block: Mapping[str, Any] = raw[block_name]
    identifier: Mapping[str, Any] = block.get("metric") or {}
    described = block.get("describedObject")
    activation = block.get("activationThreshold")
    return MetricSpec(
        type=metric_type,
        target=_target(block["target"], f"{path}.{block_name}.target"),
        resource=str(block["name"]) if METRIC_TYPES[metric_type].names_a_resource else "",
        container=str(block.get("container", "")),
        metric_name=str(identifier.get("name", "")),
        metric_selector=identifier.get("selector"),
        described_object=(
            _reference(described, f"{path}.object.describedObject") if described else None
        ),
        prometheus=_prometheus(block) if metric_type == "Prometheus" else None,
        activation_threshold=(
            _milli(activation, f"{path}.{block_name}.activationThreshold", "non-negative")
            if activation is not None
            else None
        ),
        raw=raw,
        index=index,
    )


def _prometheus(block: Mapping[str, Any]) -> PrometheusMetric:
    return PrometheusMetric(
        server=str(block["serverRef"]["name"]),
        query=str(block["query"]),
        reduction=str(block.get("reduction") or "Sum"),
        empty_result=str(block.get("emptyResult") or "Error"),
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
    metrics_raw = raw.get("metrics") or DEFAULT_METRICS
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
