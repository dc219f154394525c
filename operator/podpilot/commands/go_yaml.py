"""YAML as kubectl reads and writes manifests (sigs.k8s.io/yaml, that is go-yaml v2), on
PyYAML's libyaml loader and dumper: go-yaml's numbers and booleans, dates kept as text, and
strings written quoted where kubectl would read them as something else."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import yaml

# libyaml's C dumper when PyYAML was built with it (its wheels are): the pure-Python one takes
# most of a minute on a few megabytes of manifests.
_SAFE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Its C loader, likewise.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _manifest_loader() -> type[yaml.SafeLoader]:
    loader: type[yaml.SafeLoader] = type(
        "ManifestLoader", (_SAFE_LOADER,), {"resolve": _resolve_as_go_yaml}
    )
    # kubectl (sigs.k8s.io/yaml) keeps an unquoted date (since: 2024-01-01) as the text it is;
    # PyYAML would make it a date, which JSON has no form for.
    loader.add_constructor(_TIMESTAMP_TAG, _as_written)
    loader.add_constructor(_INT_TAG, _go_yaml_int)
    loader.add_constructor(_BOOL_TAG, _go_yaml_bool)
    return loader


def _as_written(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)


# kubectl and the API server read YAML with sigs.k8s.io/yaml, that is go-yaml v2, whose
# numbers are not PyYAML's (YAML 1.1): its resolve.go reads a plain scalar that starts with a
# digit or a sign as strconv.ParseInt(text, 0, 64) (or ParseUint), else as the float below,
# both on the text without its underscores, else as a string (one that starts with a dot: as
# strconv.ParseFloat(text, 64)). So 1e1, 1.5e3, -.5, 09 and 0o17 are numbers (to PyYAML:
# strings), and 1:30, 0x_ and 1e400 are strings (to PyYAML: 90, an error, infinity).
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
# Booleans to go-yaml v2 (resolve.go's map, with yes, on, true...), strings to PyYAML.
_GO_YAML_ONLY_BOOLS = frozenset({"y", "Y", "n", "N"})
_NUMBER_STARTS = frozenset("+-.0123456789")
_GO_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_YAML_SPECIAL_FLOATS = frozenset(
    sign + dot_word for sign in ("", "+", "-") for dot_word in (".inf", ".Inf", ".INF")
) | {".nan", ".NaN", ".NAN"}
_GO_INTEGER = re.compile(
    r"(?P<sign>[-+]?)(?P<digits>0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)"
)
_GO_INTEGER_BASES = {"b": 2, "o": 8, "x": 16}
_INT64 = range(-(2**63), 2**63)
_UINT64 = range(2**64)
_PYYAML_RESOLVE: Callable[
    [yaml.resolver.BaseResolver, type[yaml.Node], str, tuple[bool, bool]], str
] = yaml.resolver.Resolver.resolve


def _resolve_as_go_yaml(
    loader: yaml.SafeLoader, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]
) -> str:
    """PyYAML's tag for a node, but go-yaml v2's for a plain scalar that could be a number,
    and for y, Y, n and N (booleans to go-yaml v2, strings to PyYAML)."""
    tag = _PYYAML_RESOLVE(loader, kind, value, implicit)
    if kind is yaml.ScalarNode and implicit[0] and value in _GO_YAML_ONLY_BOOLS:
        return _BOOL_TAG
    if (
        kind is yaml.ScalarNode
        and implicit[0]
        and value[:1] in _NUMBER_STARTS
        and tag != _TIMESTAMP_TAG  # a string to go-yaml too
    ):
        return go_yaml_number_tag(value)
    return tag


def go_yaml_number_tag(text: str) -> str:
    """The tag go-yaml v2 gives a plain scalar ``text``: integer, float or string."""
    if text in _GO_YAML_SPECIAL_FLOATS:
        return _FLOAT_TAG
    # A leading dot goes straight to strconv.ParseFloat, which takes no underscore.
    plain = text if text.startswith(".") else text.replace("_", "")
    if go_integer(plain) is not None:
        return _INT_TAG
    # strconv.ParseFloat fails on a float out of range (1e400): the scalar is a string then.
    if _GO_YAML_FLOAT.fullmatch(plain) and math.isfinite(float(plain)):
        return _FLOAT_TAG
    return _STR_TAG


def go_integer(plain: str) -> int | None:
    """``plain`` as Go's strconv.ParseInt(plain, 0, 64) reads it, or ParseUint when unsigned
    (0x1F, 0o17, 0b101, 017 octal, 42); None when neither does."""
    match = _GO_INTEGER.fullmatch(plain)
    if match is None:
        return None
    sign, digits = match["sign"], match["digits"]
    if len(digits) == 1 or digits[0] != "0":
        base = 10
    else:
        base = _GO_INTEGER_BASES.get(digits[1].lower(), 8)
    value = int(digits, base) * (-1 if sign == "-" else 1)
    return value if value in (_UINT64 if not sign else _INT64) else None


def _go_yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """An integer, implicit or tagged ``!!int``, as go-yaml v2 reads it (0X1F and 0o17 too).

    Raises:
        yaml.constructor.ConstructorError: If go-yaml would not read it as an integer.
    """
    text = loader.construct_scalar(node)
    value = go_integer(text.replace("_", ""))
    if value is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {text!r} as an integer (!!int)", node.start_mark
        )
    return value


def _go_yaml_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    """A boolean, implicit or tagged ``!!bool``, as go-yaml v2 reads it (y and n too)."""
    text = loader.construct_scalar(node)
    if text in _GO_YAML_ONLY_BOOLS:
        return text in {"y", "Y"}
    return bool(yaml.constructor.SafeConstructor.construct_yaml_bool(loader, node))


MANIFEST_LOADER = _manifest_loader()


def _quoted_as_go_yaml_needs(
    dumper: yaml.SafeDumper, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]
) -> str:
    """PyYAML's tag for a node, but a plain scalar PyYAML reads as a string and go-yaml v2 as
    something else gets go-yaml's: the dumper then quotes that string (1e3, 0o17, -.5, y), or
    kubectl would read a number or a boolean where the output has a string."""
    tag = _PYYAML_RESOLVE(dumper, kind, value, implicit)
    if kind is not yaml.ScalarNode or not implicit[0] or tag != _STR_TAG:
        return tag
    if value in _GO_YAML_ONLY_BOOLS:
        return _BOOL_TAG
    return go_yaml_number_tag(value) if value[:1] in _NUMBER_STARTS else tag


YAML_DUMPER: type[yaml.SafeDumper] = type(
    "ManifestDumper", (_SAFE_DUMPER,), {"resolve": _quoted_as_go_yaml_needs}
)
