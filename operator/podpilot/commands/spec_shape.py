"""The shape of an Autoscaler or HPA manifest read from a file, checked before it is parsed.

``parse_spec`` trusts the API server to have validated the object against the CRD; a file
given to ``backtest`` or ``recommend`` never was. So each field the parser and the candidate
search read is checked for its type here (an object, a list, an integer, a string, a boolean,
labels and annotations: an object of strings), and a wrong one is a ``SpecError`` that names
the field; so are the replica counts' bounds, which the parser takes as they come and the CRD's
rules check. Other values within a type (enums, quantities) stay the parser's to check. Null
fields are dropped first, as the API server drops them from an object whose schema does not
allow null, and a whole number written as a float (``10.0``, ``1e1``) where an integer is due
becomes that integer, as kubectl sends it (Go writes the float 10 as the JSON number ``10``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podpilot.autoscaler.api.conversion import ConversionError, require_string_map
from podpilot.autoscaler.api.spec import SOURCE_BLOCKS, SpecError
from podpilot.commands.manifests import MAX_MANIFEST_NESTING, shown_path

# A shape: the name of a scalar type (or STRING_MAP), a dict of the known fields of an object
# (others are not read, so not checked), or a one-item list for a list of that shape.
Shape = str | dict[str, Any] | list[Any]
INT32 = (-(2**31), 2**31 - 1)
STRING_MAP = "string map"  # labels and annotations: strings keyed by strings

_REFERENCE = {"apiVersion": "string", "kind": "string", "name": "string"}
_METRIC_SOURCE = {
    "name": "string",
    "container": "string",
    "target": {"type": "string", "averageUtilization": "integer"},
    "metric": {"name": "string", "selector": {}},
    "describedObject": _REFERENCE,
    "serverRef": {"name": "string"},
    "query": "string",
    "reduction": "string",
    "emptyResult": "string",
}
_RULES = {
    "stabilizationWindowSeconds": "integer",
    "selectPolicy": "string",
    "policies": [{"type": "string", "value": "integer", "periodSeconds": "integer"}],
}
_SPEC = {
    "scaleTargetRef": _REFERENCE,
    "minReplicas": "integer",
    "maxReplicas": "integer",
    "targetCPUUtilizationPercentage": "integer",  # an autoscaling/v1 HPA's
    "metrics": [{"type": "string", **dict.fromkeys(SOURCE_BLOCKS.values(), _METRIC_SOURCE)}],
    "behavior": {"scaleUp": _RULES, "scaleDown": _RULES},
    "evaluationPeriodSeconds": "integer",
    "cooldownSeconds": "integer",
    "paused": "boolean",
    "mode": "string",
    "fallback": {
        "policy": "string",
        "replicas": "integer",
        "failureThreshold": "integer",
        "allowScaleDown": "boolean",
    },
}
MANIFEST: Shape = {
    "apiVersion": "string",
    "kind": "string",
    "metadata": {
        "name": "string",
        "namespace": "string",
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
    "spec": _SPEC,
}


def checked(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` without its null fields, once every field read has the type it should;
    whole floats in integer fields are integers in it.

    Raises:
        SpecError: Naming the first field of the wrong type.
    """
    kept: dict[str, Any] = _without_nulls(document, "", 0, {})
    _check(kept, MANIFEST, "")
    _check_replica_bounds(kept.get("spec"))
    return kept


_UNFINISHED = object()  # what a list or object met again stands for while its items are copied


def _without_nulls(value: Any, path: str, depth: int, copies: dict[int, Any]) -> Any:
    """``value`` without null fields. A list or object met again (a YAML alias) is its first
    copy, so that an alias bomb is never expanded; one met inside itself is refused."""
    if not isinstance(value, Mapping | list):
        return value
    copy = copies.get(id(value))
    if copy is _UNFINISHED:
        raise SpecError(
            f"{shown_path(path)}: an alias inside its own anchor; a manifest cannot contain itself"
        )
    if copy is not None:
        return copy
    if depth >= MAX_MANIFEST_NESTING:
        raise SpecError(f"{shown_path(path)}: nested deeper than {MAX_MANIFEST_NESTING} levels")
    copies[id(value)] = _UNFINISHED
    if isinstance(value, Mapping):
        copy = {
            key: _without_nulls(item, _field(path, key), depth + 1, copies)
            for key, item in value.items()
            if item is not None
        }
    else:
        copy = [
            _without_nulls(item, f"{path}[{index}]", depth + 1, copies)
            for index, item in enumerate(value)
        ]
    copies[id(value)] = copy
    return copy


def _field(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# The CRD's rules, in its words: the parser takes any integer.
_FEWEST = {"minReplicas": (0, "0 or more"), "maxReplicas": (1, "at least 1")}


def _check_replica_bounds(spec: Any) -> None:
    if not isinstance(spec, Mapping):
        return
    for field, (fewest, bound) in _FEWEST.items():
        if field in spec and spec[field] < fewest:
            raise SpecError(f"spec.{field} must be {bound}, not {spec[field]}")
    if (
        "minReplicas" in spec
        and "maxReplicas" in spec
        and spec["minReplicas"] > spec["maxReplicas"]
    ):
        raise SpecError(
            f"spec.minReplicas ({spec['minReplicas']}) must be <= spec.maxReplicas "
            f"({spec['maxReplicas']}); lower minReplicas or raise maxReplicas"
        )


def _check(value: Any, shape: Shape, path: str) -> Any:
    """``value`` once it has ``shape``; a whole float where an integer is due is that integer.
    Objects and lists (``_without_nulls``'s copies) are changed in place."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _wrong(path, "an object", value)
        for key, field_shape in shape.items():
            if key in value:
                value[key] = _check(value[key], field_shape, f"{path}.{key}" if path else key)
        return value
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise _wrong(path, "a list", value)
        for index, item in enumerate(value):
            value[index] = _check(item, shape[0], f"{path}[{index}]")
        return value
    if shape == STRING_MAP:
        try:
            require_string_map(value, path)
        except ConversionError as error:
            raise SpecError(str(error)) from None
        return value
    if not _is(shape, value):
        raise _wrong(path, _EXPECTED[shape], value)
    return int(value) if shape == "integer" else value


def _is(scalar: str, value: Any) -> bool:
    if scalar == "integer":
        # 2.0 is an integer to the API server too; int32 is the CRD's format.
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return whole and not isinstance(value, bool) and INT32[0] <= value <= INT32[1]
    if scalar == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


_EXPECTED = {"integer": "an integer (int32)", "boolean": "true or false", "string": "a string"}


def _wrong(path: str, expected: str, value: Any) -> SpecError:
    return SpecError(f"{path} must be {expected}, not {_described(value)}")


def _described(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}..."
