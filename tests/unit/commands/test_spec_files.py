"""``backtest`` and ``recommend`` read specs from files no API server has validated: a field of
the wrong type, or a file that is not UTF-8 YAML, is one line naming the file and the field,
with exit status 1 (bad input); never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import backtest_history as known

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_NO_ANSWER

URL = ["--prometheus", "http://127.0.0.1:9"]  # never asked: the input fails first
COMMANDS = {"backtest": [], "recommend": ["--ceiling", "80%"]}


def failure(command: str, file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    status = main([command, "-f", str(file), *URL, *COMMANDS[command]])
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err.splitlines()


def with_field(path: str, value: Any) -> dict[str, Any]:
    """The known Autoscaler with the field at dotted ``path`` (``[i]`` for list items) set."""
    manifest = copy.deepcopy(known.autoscaler())
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node: Any = manifest
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[int(last) if last.isdigit() else last] = value
    return manifest


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("spec.minReplicas", "x", "an integer (int32), not 'x'"),
        ("spec.maxReplicas", 1.5, "an integer (int32), not 1.5"),
        ("spec.minReplicas", float("inf"), "an integer (int32), not inf"),
        ("spec.maxReplicas", True, "an integer (int32), not True"),
        ("spec.metrics", 5, "a list, not 5"),
        ("spec.metrics[0]", "cpu", "an object, not 'cpu'"),
        ("spec.metrics[0].resource", 5, "an object, not 5"),
        ("spec.metrics[0].resource.target", [], "an object, not a list"),
        (
            "spec.metrics[0].resource.target.averageUtilization",
            "50%",
            "an integer (int32), not '50%'",
        ),
        ("spec.scaleTargetRef", "web", "an object, not 'web'"),
        ("spec.behavior", 5, "an object, not 5"),
        ("spec.behavior.scaleUp.policies", {}, "a list, not an object"),
        ("spec.metrics[0].type", 5, "a string, not 5"),
        ("spec.evaluationPeriodSeconds", [15], "an integer (int32), not a list"),
        ("spec.paused", "no", "true or false, not 'no'"),
        ("spec.fallback", "Hold", "an object, not 'Hold'"),
        ("metadata", ["web"], "an object, not a list"),
        ("spec", "none", "an object, not 'none'"),
    ],
)
def test_a_field_of_the_wrong_type_is_one_line_naming_the_file_and_field(
    command: str,
    field: str,
    value: Any,
    said: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "autoscaler.yaml"
    file.write_text(yaml.safe_dump(with_field(field, value)), encoding="utf-8")

    status, err = failure(command, file, capsys)

    assert (status, err) == (
        EXIT_FAILED,
        [f"podpilot {command}: error: {file}: {field} must be {said}"],
    )


def test_an_hpas_field_is_named_as_the_hpa_has_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": "cpu"}],
        },
    }
    file = tmp_path / "hpa.yaml"
    file.write_text(yaml.safe_dump(hpa), encoding="utf-8")

    status, err = failure("backtest", file, capsys)

    said = "spec.metrics[0].resource must be an object, not 'cpu'"
    assert (status, err) == (EXIT_FAILED, [f"podpilot backtest: error: {file}: {said}"])


def test_the_document_of_several_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "two.yaml"
    broken = with_field("spec.minReplicas", "two")
    file.write_text(yaml.safe_dump_all([known.autoscaler(), broken]), encoding="utf-8")

    status, err = failure("recommend", file, capsys)

    assert (status, err) == (
        EXIT_FAILED,
        [
            f"podpilot recommend: error: {file}, document 2: spec.minReplicas must be an integer "
            "(int32), not 'two'"
        ],
    )


def test_null_fields_are_dropped_as_the_api_server_drops_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "autoscaler.yaml"
    file.write_text(yaml.safe_dump(with_field("spec.minReplicas", None)), encoding="utf-8")

    status, err = failure("backtest", file, capsys)

    # Past the input (minReplicas takes its default), to the history: Prometheus is not there.
    assert (status, err) == (
        EXIT_NO_ANSWER,
        [f"podpilot backtest: error: cannot connect to {URL[1]}"],
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe\x00kind: Autoscaler\n", "cannot read: not UTF-8 text"),
        (b"kind: Autoscaler\nspec: [\n", "cannot read: while parsing a flow node"),
    ],
    ids=["not-utf-8", "broken-yaml"],
)
def test_a_file_that_is_not_utf8_yaml_is_one_line(
    command: str,
    content: bytes,
    said: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "spec.yaml"
    file.write_bytes(content)

    status, err = failure(command, file, capsys)

    assert status == EXIT_FAILED
    (line,) = err
    assert line.startswith(f"podpilot {command}: error: {file}: {said}")


def test_convert_says_a_file_is_not_utf8_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "hpa.yaml"
    file.write_bytes(b"\xff\xfe\x00")

    assert main(["convert", str(file)]) == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot convert: error: {file}: cannot read: not UTF-8 text"
    ]
