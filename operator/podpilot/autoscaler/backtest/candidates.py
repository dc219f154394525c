"""Variations of an Autoscaler spec for ``recommend`` to try: targets, min, max, behavior. Pure.

A candidate is the spec as written (the ``spec`` mapping of the manifest) with some of its
values changed, so the recommendation prints as a manifest a user can apply. Targets move
together: every metric's target is the original one times the same factor (a Utilization
target rounded to a whole percent, others in milli-units), which keeps the grid small.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.quantities import format_milli, milli_value
from podpilot.autoscaler.api.spec import DEFAULT_METRICS, AutoscalerSpec, parse_spec

TARGET_FACTORS = (0.5, 0.625, 0.75, 0.875, 1.0, 1.125, 1.25)

# Behaviors besides the spec's own, each laid over it (``over_own_behavior``): the HPA's quick
# scale-up with a short scale-down window, and a cautious scale-down (a long window, 10 % of
# the pods per minute).
BEHAVIORS: dict[str, dict[str, Any]] = {
    "responsive": {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
        "scaleDown": {"stabilizationWindowSeconds": 60},
    },
    "cautious": {
        "scaleUp": {"stabilizationWindowSeconds": 0},
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
        },
    },
}


@dataclass(frozen=True)
class Candidate:
    """One spec to try; ``target_factor`` is its targets over the original ones."""

    label: str
    raw: Mapping[str, Any]
    spec: AutoscalerSpec
    target_factor: float


def candidates(raw: Mapping[str, Any]) -> Iterator[Candidate]:
    """The original spec first, then every combination of target factor, min, max and
    behavior (duplicates of the original skipped)."""
    original = parse_spec(raw)
    yield Candidate("as given", raw, original, 1.0)
    mins = _unique([original.min_replicas, max(1, original.min_replicas // 2)])
    maxes = _unique([original.max_replicas, math.ceil(original.max_replicas * 1.5)])
    behaviors: list[tuple[str, Any]] = [("own behavior", raw.get("behavior"))]
    behaviors += [
        (f"{name} behavior", over_own_behavior(raw.get("behavior"), preset))
        for name, preset in BEHAVIORS.items()
    ]
    tried = [dict(raw)]
    for factor in TARGET_FACTORS:
        for minimum in mins:
            for maximum in maxes:
                if minimum > maximum:
                    continue
                for behavior_label, behavior in behaviors:
                    changed = _with(raw, factor, minimum, maximum, behavior)
                    if changed in tried:  # a behavior preset can equal the spec's own
                        continue
                    tried.append(changed)
                    label = f"targets x{factor:g}, min {minimum}, max {maximum}, {behavior_label}"
                    yield Candidate(label, changed, parse_spec(changed), factor)


def over_own_behavior(own: Any, preset: Mapping[str, Any]) -> dict[str, Any]:
    """The preset laid over the spec's own behavior: it changes only the fields it names, so a
    direction or a field it leaves out (a tolerance, a scale-down policy) stays as written."""
    merged: dict[str, Any] = copy.deepcopy(dict(own or {}))
    for direction, rules in preset.items():
        merged[direction] = {**(merged.get(direction) or {}), **copy.deepcopy(rules)}
    return merged


def _unique(values: list[int]) -> list[int]:
    return list(dict.fromkeys(values))


def _with(
    raw: Mapping[str, Any], factor: float, minimum: int, maximum: int, behavior: Any
) -> dict[str, Any]:
    changed = copy.deepcopy(dict(raw))
    changed["minReplicas"] = minimum
    changed["maxReplicas"] = maximum
    if behavior is None:
        changed.pop("behavior", None)
    else:
        changed["behavior"] = copy.deepcopy(behavior)
    if factor != 1.0:
        # Without metrics the default one is scaled: written out, or the target would not move.
        changed["metrics"] = copy.deepcopy(list(changed.get("metrics") or DEFAULT_METRICS))
        for metric in changed["metrics"]:
            _scale_target(metric, factor)
    return changed


def _scale_target(metric: dict[str, Any], factor: float) -> None:
    block = next(
        (value for key, value in metric.items() if key != "type" and isinstance(value, dict)),
        None,
    )
    target = block.get("target") if block is not None else None
    if not isinstance(target, dict):
        return
    if "averageUtilization" in target:
        target["averageUtilization"] = max(1, round(int(target["averageUtilization"]) * factor))
    for key in ("averageValue", "value"):
        if key in target:
            milli = milli_value(str(target[key]))
            target[key] = format_milli(max(1, round(milli * factor)))


__all__ = ["BEHAVIORS", "TARGET_FACTORS", "Candidate", "candidates"]
