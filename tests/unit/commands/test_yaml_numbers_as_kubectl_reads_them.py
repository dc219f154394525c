"""YAML numbers as kubectl and the API server read them: sigs.k8s.io/yaml, that is go-yaml v2,
whose resolve.go reads a plain scalar that starts with a digit or a sign as Go's
``strconv.ParseInt(text, 0, 64)`` (or ``ParseUint``), else as its float
``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?`` (``ParseFloat`` in range), both on the
text without its underscores, else as a string. PyYAML's YAML 1.1 differs: ``1e1`` is a string
to it and ``1:30`` the number 90. ``convert`` takes a whole float (``10.0``, ``1e1``) where an
integer is due, as the API server takes the JSON ``10`` kubectl sends for it, writes it as that
integer, refuses ``10.5`` naming the field, and quotes every string go-yaml would not read as
one."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.commands.convert_runs import converting

from podpilot.commands.backtest_inputs import load_specs
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK
from podpilot.commands.go_yaml import YAML_DUMPER
from podpilot.commands.manifests import load_manifests


def read(text: str) -> object:
    (document,) = load_manifests(io.StringIO(f"value: {text}\n"))
    assert isinstance(document, dict)
    return document["value"]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1e1", 10.0),
        ("1E3", 1000.0),
        ("-2e2", -200.0),
        ("+1e1", 10.0),
        ("1.5e3", 1500.0),  # the exponent needs no sign
        ("1.0e+1", 10.0),
        ("1.e1", 10.0),
        (".5", 0.5),
        ("-.5", -0.5),  # a sign before the dot
        ("+.5", 0.5),
        (".5e1", 5.0),
        ("1_0e1", 100.0),  # underscores dropped first
        ("09", 9.0),  # not octal, so ParseInt fails and the float reads it
        ("019", 19.0),
        ("10.0", 10.0),
        ("18446744073709551616", 2.0**64),  # beyond uint64: a float
        ("-9223372036854775809", -(2.0**63)),  # beyond int64
        ("1e-400", 0.0),
    ],
)
def test_a_float_as_go_yaml_reads_it(text: str, number: float) -> None:
    value = read(text)
    assert isinstance(value, float)
    assert value == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("10", 10),
        ("-0", 0),
        ("1_000", 1000),
        ("0x1F", 31),
        ("0X1F", 31),
        ("-0x1f", -31),
        ("0o17", 15),  # ParseInt's base 0 takes Go's 0o prefix
        ("0O17", 15),
        ("017", 15),  # a leading 0 is octal
        ("0b101", 5),
        ("0B101", 5),
        ("+_1", 1),
        ("18446744073709551615", 2**64 - 1),  # ParseUint's
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_an_integer_as_go_yaml_reads_it(text: str, number: int) -> None:
    value = read(text)
    assert type(value) is int
    assert value == number


@pytest.mark.parametrize(
    "text",
    [
        "1:30",  # base 60 to PyYAML, 90
        "1:30.5",
        "0x_",  # an int to PyYAML's resolver, which its constructor cannot build
        "0b_",
        "0xg",
        "1e400",  # out of a float's range: ParseFloat fails
        "1.0e+400",
        "._5",  # after a leading dot, ParseFloat, which takes no underscore
        ".",
        "+",
        "-.nan",
        "1e",
        "1.2.3",
        "2024-01-01",  # a timestamp: the text it is, as before
    ],
)
def test_text_go_yaml_keeps_as_a_string(text: str) -> None:
    assert read(text) == text


@pytest.mark.parametrize(
    ("text", "boolean"),
    [("y", True), ("Y", True), ("n", False), ("N", False), ("!!bool y", True), ("yes", True)],
)
def test_y_and_n_are_booleans_as_go_yaml_v2_reads_them(text: str, boolean: bool) -> None:
    assert read(text) is boolean


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'1e1'", "1e1"),
        ('"0o17"', "0o17"),
        ("!!str 1e1", "1e1"),
        ("!!int 0o17", 15),
        ('"y"', "y"),
        ("yo", "yo"),
    ],
)
def test_quoted_or_tagged_scalars_keep_their_type(text: str, expected: object) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text", [".inf", "-.Inf", "+.INF"])
def test_infinities_are_still_floats_for_require_json_to_refuse(text: str) -> None:
    value = read(text)
    assert isinstance(value, float) and math.isinf(value)


def test_an_int_tag_go_yaml_cannot_read_is_one_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError, match="cannot read '1:30' as an integer"):
        read("!!int 1:30")


# --- properties -------------------------------------------------------------------------------

int64s = st.integers(-(2**63), 2**63 - 1)


@given(int64s)
def test_any_int64_in_any_of_gos_spellings_is_that_integer(number: int) -> None:
    sign = "-" if number < 0 else ""
    for text in (str(number), f"{sign}0x{abs(number):X}", f"{sign}0o{abs(number):o}"):
        assert read(text) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_as_go_or_python_write_it_is_that_float(number: float) -> None:
    for text in (repr(number), f"{number:e}".replace("e+", "e"), f"{number:E}"):
        value = read(text)
        assert value == float(text), text


number_like = st.text(alphabet="0123456789+-._eExXoObB:", max_size=12)


@given(st.one_of(number_like, st.text(max_size=12)))
def test_any_string_written_by_convert_is_read_back_as_that_string(text: str) -> None:
    written = yaml.dump({"value": text}, Dumper=YAML_DUMPER)
    (document,) = load_manifests(io.StringIO(written))
    assert document == {"value": text}


@given(number_like)
def test_a_plain_scalar_that_looks_like_a_number_is_read_without_an_internal_error(
    text: str,
) -> None:
    try:
        value = read(text)
    except yaml.YAMLError:
        return  # "-" or ":" alone, for instance: a one-line "cannot read"
    assert value is None or isinstance(value, str | int | float)  # None: empty text


@pytest.mark.parametrize("text", ["y", "Y", "n", "N", "1e3", "0o17", "-.5", "09", "1.5e3"])
def test_a_string_go_yaml_would_read_as_a_boolean_or_a_number_is_written_quoted(text: str) -> None:
    assert yaml.dump(text, Dumper=YAML_DUMPER) in (f"'{text}'\n", f"'{text}'\n...\n")


# --- convert and backtest ---------------------------------------------------------------------

HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  labels: {{version: "1e3", flag: "y", window: 1:30}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: {min}
  maxReplicas: {max}
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: {utilization}}}}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {window}
      policies: [{{type: Pods, value: {value}, periodSeconds: {period}}}]
"""
WHOLE = {
    "min": "2.0",
    "max": "1e1",
    "utilization": "5E1",
    "window": "3e2",
    "value": "4.",
    "period": "6e1",
}
AS_INTEGERS = {"min": 2, "max": 10, "utilization": 50, "window": 300, "value": 4, "period": 60}


def integer_fields(spec: dict[str, Any]) -> dict[str, object]:
    policy = spec["behavior"]["scaleDown"]["policies"][0]
    return {
        "min": spec["minReplicas"],
        "max": spec["maxReplicas"],
        "utilization": spec["metrics"][0]["resource"]["target"]["averageUtilization"],
        "window": spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        "value": policy["value"],
        "period": policy["periodSeconds"],
    }


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_whole_floats_in_integer_fields_are_written_as_integers(
    output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = converting(HPA.format(**WHOLE), tmp_path, capsys, "-o", output)

    assert (status, err) == (EXIT_OK, [])
    autoscaler = json.loads(out) if output == "json" else yaml.safe_load(out)
    fields = integer_fields(autoscaler["spec"])
    assert fields == AS_INTEGERS
    assert all(type(value) is int for value in fields.values())
    # The strings stay strings for kubectl: quoted where go-yaml would read something else.
    assert autoscaler["metadata"]["labels"] == {"version": "1e3", "flag": "y", "window": "1:30"}
    if output == "yaml":
        (read_back,) = load_manifests(io.StringIO(out))
        assert read_back == autoscaler


@pytest.mark.parametrize(
    ("field", "text", "path"),
    [
        ("max", "10.5", "spec.maxReplicas"),
        ("min", "1.5e0", "spec.minReplicas"),
        ("utilization", "5.05e1", "spec.metrics[0].resource.target.averageUtilization"),
        ("window", "1e-1", "spec.behavior.scaleDown.stabilizationWindowSeconds"),
        ("value", "4.25", "spec.behavior.scaleDown.policies[0].value"),
        ("period", "6.25e1", "spec.behavior.scaleDown.policies[0].periodSeconds"),
    ],
)
def test_a_float_that_is_not_whole_is_refused_naming_the_field(
    field: str, text: str, path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = converting(HPA.format(**{**WHOLE, field: text}), tmp_path, capsys)

    assert (status, out) == (EXIT_FAILED, "")
    (line,) = err
    assert line == (
        f"podpilot convert: error: FILE, document 1: {path} must be an integer (int32), "
        f"not {float(text)!r}"
    )


def test_an_autoscaling_v1_target_written_as_a_float_is_an_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\n"
        "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
        "  maxReplicas: 1e1\n  targetCPUUtilizationPercentage: 8e1\n"
    )
    status, out, err = converting(text, tmp_path, capsys, "-o", "json")

    assert (status, err) == (EXIT_OK, [])
    spec = json.loads(out)["spec"]
    assert spec["maxReplicas"] == 10 and type(spec["maxReplicas"]) is int
    target = spec["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": 80}


@pytest.mark.parametrize(
    "label", ["0x_", "0b_"], ids=["hex-without-digits", "binary-without-digits"]
)
def test_a_label_pyyaml_could_not_build_is_the_string_kubectl_reads(
    label: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HPA.format(**WHOLE).replace('version: "1e3"', f"version: {label}")
    status, out, err = converting(text, tmp_path, capsys, "-o", "json")

    assert (status, err) == (EXIT_OK, [])
    assert json.loads(out)["metadata"]["labels"]["version"] == label


def test_backtest_reads_whole_floats_as_convert_does(tmp_path: Path) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(HPA.format(**WHOLE), encoding="utf-8")

    (loaded,) = load_specs([str(path)])

    assert integer_fields(dict(loaded.manifest["spec"])) == AS_INTEGERS
    assert loaded.spec.max_replicas == 10
