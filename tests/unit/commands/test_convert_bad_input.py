"""``podpilot convert`` given a manifest no Kubernetes object can be: a value JSON has no form
for, an alias that loops or explodes, a spec that would not parse, bytes that are not UTF-8.
Each is one line on stderr naming the document and the field, exit status 1, and nothing on
stdout; never a traceback, never output the API server would refuse."""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import pytest
from tests.unit.commands.convert_runs import converting, manifest

from podpilot.autoscaler.api.spec import SpecError
from podpilot.cli import main
from podpilot.commands import spec_shape
from podpilot.commands.backtest_inputs import load_specs
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK, CommandError, render
from podpilot.commands.manifests import load_manifests


def alias_bomb(levels: int = 9) -> str:
    """Billion laughs: each level lists the one before ten times, 10**levels values in all."""
    anchors = ["    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"    a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels)]
    return manifest("  labels:\n" + "\n".join(anchors))


@pytest.mark.parametrize("output", ["json", "yaml"])
@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            manifest("  annotations: {b: !!binary aGVsbG8=}"),
            "metadata.annotations.b: a YAML !!binary value, which a Kubernetes object (JSON) "
            "cannot hold: write its base64 text as a plain string",
        ),
        (
            manifest("  labels: &a [*a]"),
            "metadata.labels[0]: an alias inside its own anchor (as in &a [*a]); a Kubernetes "
            "object cannot contain itself",
        ),
        (
            manifest("  annotations: {x: .inf}"),
            "metadata.annotations.x: .inf is not a number JSON can hold: quote it if it is text",
        ),
        (
            manifest("  annotations: {x: -.inf}"),
            "metadata.annotations.x: -.inf is not a number JSON can hold: quote it if it is text",
        ),
        (
            manifest("  annotations: {x: .nan}"),
            "metadata.annotations.x: .nan is not a number JSON can hold: quote it if it is text",
        ),
        (
            manifest("  annotations: {x: !!set {a}}"),
            "metadata.annotations.x: a YAML !!set value, which a Kubernetes object (JSON) "
            "cannot hold",
        ),
        (
            manifest("  annotations: {1: x}"),
            "metadata.annotations: key 1 is not a string: quote it, as every key of a "
            "Kubernetes object is a string",
        ),
        (
            manifest("  labels: {a: " + "[" * 150 + "]" * 150 + "}"),
            f"{('metadata.labels.a' + '[0]' * 150)[:80]}...: nested deeper than 100 levels",
        ),
        (
            alias_bomb(),
            "its aliases repeat more than 100,000 values (a YAML alias bomb?): write the "
            "repeated parts out",
        ),
        (
            manifest(spec="  maxReplicas: ten"),
            "spec.maxReplicas must be an integer (int32), not 'ten'",
        ),
        (
            manifest(spec="  maxReplicas: 1.0e+40"),
            "spec.maxReplicas must be an integer (int32), not 1e+40",
        ),
        (manifest(spec="  maxReplicas: -5"), "spec.maxReplicas must be at least 1, not -5"),
        (
            manifest(spec="  maxReplicas: 3\n  minReplicas: -1"),
            "spec.minReplicas must be 0 or more, not -1",
        ),
        (
            manifest(spec="  maxReplicas: 3\n  minReplicas: 5"),
            "spec.minReplicas (5) must be <= spec.maxReplicas (3); lower minReplicas or raise "
            "maxReplicas",
        ),
        (
            manifest(spec="  maxReplicas: 3\n  metrics: x"),
            "spec.metrics must be a list, not 'x'",
        ),
        (manifest(spec="  minReplicas: 1"), "spec.maxReplicas is required"),
        (
            manifest(spec="  maxReplicas: 3\n  behavior: {scaleUp: {selectPolicy: Sometimes}}"),
            "'Sometimes' is not a valid SelectPolicy",
        ),
        (
            manifest().replace("  name: web\n", "  namespace: shop\n"),
            "metadata.name is required (or metadata.generateName): an Autoscaler needs a name",
        ),
    ],
    ids=[
        "binary",
        "alias-in-itself",
        "infinity",
        "minus-infinity",
        "nan",
        "set",
        "number-as-annotation-key",
        "nested-too-deep",
        "alias-bomb",
        "replicas-not-a-number",
        "replicas-beyond-int32",
        "replicas-negative",
        "min-replicas-negative",
        "min-above-max",
        "metrics-not-a-list",
        "no-max-replicas",
        "unknown-select-policy",
        "no-name",
    ],
)
def test_a_manifest_no_kubernetes_object_can_be_is_one_line_and_exit_status_1(
    text: str, said: str, output: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = converting(text, tmp_path, capsys, "-o", output)

    assert (status, out, err) == (
        EXIT_FAILED,
        "",
        [f"podpilot convert: error: FILE, document 1: {said}"],
    )


def test_an_alias_bomb_is_refused_without_being_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()

    status, _, err = converting(alias_bomb(levels=30), tmp_path, capsys, "-o", "json")

    assert status == EXIT_FAILED
    assert "a YAML alias bomb?" in err[0]
    assert time.monotonic() - started < 5


def test_a_few_aliases_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = "  labels: &labels {app: web}\n  annotations: *labels"

    status, out, _ = converting(manifest(shared), tmp_path, capsys, "-o", "json")

    assert status == EXIT_OK
    assert json.loads(out)["metadata"]["annotations"] == {"app": "web"}


@pytest.mark.parametrize("written", ["2024-01-01", "2024-01-01T10:00:00Z", "2024-1-1 10:00:00"])
def test_an_unquoted_date_stays_the_text_it_is_as_kubectl_keeps_it(
    written: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = manifest(f"  annotations: {{since: {written}}}\n  labels: {{since: {written[:10]}}}")

    status, out, err = converting(text, tmp_path, capsys, "-o", "json")

    assert (status, err) == (EXIT_OK, [])
    metadata = json.loads(out)["metadata"]
    assert (metadata["annotations"]["since"], metadata["labels"]["since"]) == (
        written,
        written[:10],
    )


def test_a_date_written_as_yaml_is_quoted_so_it_reads_back_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = converting(manifest("  annotations: {since: 2024-01-01}"), tmp_path, capsys)

    assert status == EXIT_OK
    assert "since: '2024-01-01'" in out


def test_the_manifest_loader_keeps_timestamps_as_text() -> None:
    (document,) = load_manifests(io.StringIO("a: 2024-01-01\nb: !!timestamp 2024-01-01 10:00:00"))

    assert document == {"a": "2024-01-01", "b": "2024-01-01 10:00:00"}


def test_bytes_on_stdin_that_are_not_utf8_are_one_line_as_in_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What Python gives for stdin under a C.UTF-8 locale: undecodable bytes become surrogates.
    raw = io.BytesIO(b"kind: \xff\xfe\x80\x81 HorizontalPodAutoscaler\n")
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
    )

    assert main(["convert", "-"]) == EXIT_FAILED

    captured = capsys.readouterr()
    assert (captured.out, captured.err.splitlines()) == (
        "",
        ["podpilot convert: error: stdin: cannot read: not UTF-8 text"],
    )


def test_every_document_at_fault_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "---\n".join(
        [manifest(), manifest("  annotations: {1: x}"), manifest(spec="  maxReplicas: 0")]
    )

    status, out, err = converting(text, tmp_path, capsys)

    assert (status, out, err) == (
        EXIT_FAILED,
        "",
        [
            "podpilot convert: error: FILE, document 2: metadata.annotations: key 1 is not a "
            "string: quote it, as every key of a Kubernetes object is a string",
            "podpilot convert: error: FILE, document 3: spec.maxReplicas must be at least 1, not 0",
        ],
    )


# --- the same manifests given to backtest, through spec_shape ---------------------------------


def test_backtest_refuses_an_alias_inside_its_own_anchor_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "hpa.yaml"
    file.write_text(manifest("  labels: &a [*a]"), encoding="utf-8")

    status = main(["backtest", "-f", str(file), "--prometheus", "http://127.0.0.1:9"])

    assert (status, capsys.readouterr().err.splitlines()) == (
        EXIT_FAILED,
        [
            f"podpilot backtest: error: {file}: metadata.labels[0]: an alias inside its own "
            "anchor; a manifest cannot contain itself"
        ],
    )


def test_the_shape_check_copies_an_alias_bomb_without_expanding_it() -> None:
    document = {"kind": "Autoscaler", "spec": {"maxReplicas": 3}}
    level: list[object] = ["x"] * 10
    for _ in range(30):  # 10**31 values, were it expanded
        level = [level] * 10
    document["metadata"] = {"name": "web", "finalizers": level}

    kept = spec_shape.checked(document)

    assert kept["metadata"]["finalizers"][0] is kept["metadata"]["finalizers"][1]


def test_the_shape_check_refuses_nesting_deeper_than_a_manifest_has() -> None:
    nested: object = "x"
    for _ in range(500):
        nested = [nested]

    with pytest.raises(
        SpecError, match=r"^metadata\.labels\.a\[0\]\[0\].*\.\.\.: nested deeper than 100 levels$"
    ):
        spec_shape.checked({"kind": "Autoscaler", "metadata": {"labels": {"a": nested}}})


@pytest.mark.parametrize("number", [math.inf, math.nan])
def test_json_output_never_prints_the_infinity_or_nan_no_json_reader_takes(number: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        render({"x": number}, "json")


def test_backtest_reads_its_manifests_as_convert_does(tmp_path: Path) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(manifest("  annotations: {reviewed: 2024-01-01}"))
    (loaded,) = load_specs([str(path)])
    assert loaded.manifest["metadata"]["annotations"] == {"reviewed": "2024-01-01"}

    path.write_text(manifest("  annotations: {score: .nan}"))
    # backtest checks an annotation's type before its JSON: a string, which .nan is not.
    with pytest.raises(
        CommandError, match=r"metadata\.annotations\.score: must be a string, not \.nan"
    ):
        load_specs([str(path)])
