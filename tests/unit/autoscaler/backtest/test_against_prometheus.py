"""``podpilot backtest`` and ``recommend`` against a real Prometheus (Debian's ``prometheus``
and ``promtool``) holding a known history, backfilled with ``promtool tsdb
create-blocks-from openmetrics``: the replica curve read back through range queries is the
one ``decide`` gives step by step, and the plots are written. Only 127.0.0.1 is used."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests import backtest_history as known

from podpilot.autoscaler.api.conversion import convert_hpa
from podpilot.autoscaler.api.spec import parse_spec
from podpilot.autoscaler.backtest.replay import replay
from podpilot.autoscaler.sources.prometheus_range import (
    RangeReader,
    SeriesNames,
    Window,
    default_pod_regex,
    read_trace,
)
from podpilot.cli import main
from podpilot.commands import backtest_plot
from podpilot.commands.recommend import LAST_APPLIED
from podpilot_dev.ports import free_port


@pytest.fixture(scope="module")
def history() -> known.History:
    return known.recent_history(hours_ago=1.0)


@pytest.fixture(scope="module")
def prometheus(history: known.History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with known.prometheus_with(history, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def write(path: Path, manifest: dict[str, object]) -> str:
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return str(path)


def history_flags(url: str, history: known.History) -> list[str]:
    return [
        "--prometheus", url, "--from", str(history.start), "--to", str(history.end),
        "--step", "1m",
    ]  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_range_reader_builds_the_known_trace(prometheus: str, history: known.History) -> None:
    specs = [parse_spec(known.autoscaler()["spec"]), parse_spec(known.queue_autoscaler()["spec"])]
    reader = RangeReader(prometheus, timeout=10)
    try:
        trace = read_trace(
            reader,
            specs,
            SeriesNames(
                namespace=known.NAMESPACE, pod_regex=default_pod_regex("Deployment", known.WORKLOAD)
            ),
            Window(history.start, history.end, known.STEP),
        )
    finally:
        reader.close()
    assert trace == known.known_trace(history.times)


def test_backtest_compares_specs_and_plots_them(
    prometheus: str,
    history: known.History,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifests = {
        "hpa.yaml": known.hpa(),
        "autoscaler.yaml": known.autoscaler(),
        "queue.yaml": known.queue_autoscaler(),
    }
    files = [write(tmp_path / name, manifest) for name, manifest in manifests.items()]
    plot = tmp_path / "compare"
    arguments = ["backtest", *(f for file in files for f in ("-f", file)), "--compare"]
    status = main(
        [*arguments, *history_flags(prometheus, history), "--plot", str(plot), "-o", "json"]
    )

    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["actual"]["replicas"] == known.ACTUAL
    for spec, manifest in zip(report["specs"], manifests.values(), strict=True):
        if manifest["kind"] == "HorizontalPodAutoscaler":
            manifest = convert_hpa(manifest).autoscaler
        assert spec["replicas"] == known.reference_curve(manifest, history.times)
    assert report["window"]["steps"] == len(known.LOAD)
    for path in (plot.with_suffix(".png"), plot.with_suffix(".svg")):
        assert path.stat().st_size > 1000
    assert png_size(plot.with_suffix(".png")) == (1000, 600)


def test_text_output_has_one_row_per_spec_beside_the_actual(
    prometheus: str, history: known.History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())
    assert main(["backtest", "-f", file, *history_flags(prometheus, history)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The spec's scale-down window is 120 s; the replay knows nothing before --from.
    assert lines[1] == (
        "# cold start: no recommendation or scale event before --from is known; "
        "the first 2m0s may differ from a running Autoscaler"
    )
    assert lines[2].split()[:2] == ["SPEC", "REPLICA-MINUTES"]
    expected = replay(parse_spec(known.autoscaler()["spec"]), known.known_trace(history.times))
    # Each count holds one minute, until the next step; the last one is at --to, so it adds
    # nothing: the replica-minutes cover exactly --from to --to.
    assert lines[3].split()[:2] == ["actual", f"{sum(known.ACTUAL[:-1]):.1f}"]
    assert lines[4].split()[:2] == ["autoscaler.yaml", f"{sum(expected.replicas[:-1]):.1f}"]


def test_the_hpa_settings_are_kube_controller_managers_flags(
    prometheus: str, history: known.History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "hpa.yaml", known.hpa())
    flag = "--horizontal-pod-autoscaler-downscale-stabilization"
    status = main(
        ["backtest", "-f", file, *history_flags(prometheus, history), flag, "1m", "-o", "yaml"]
    )
    assert status == 0
    replicas = yaml.safe_load(capsys.readouterr().out)["specs"][0]["replicas"]
    converted = convert_hpa(known.hpa()).autoscaler
    assert replicas == known.reference_curve(converted, history.times, downscale_window=60)
    assert replicas != known.reference_curve(converted, history.times)


def test_recommend_prints_an_applicable_manifest_with_its_evidence(
    prometheus: str, history: known.History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As `kubectl get -o yaml` gives it: what the apiserver wrote must not be applied back.
    given = known.autoscaler()
    given["metadata"].update(
        uid="0b5e0c4e-8d1f-4a47-9d3a-6f1e2b7c9a10",
        resourceVersion="4711",
        generation=3,
        creationTimestamp="2026-12-01T10:00:00Z",
        managedFields=[{"manager": "kubectl", "operation": "Apply"}],
        annotations={LAST_APPLIED: "{}", "team": "shop"},
    )
    given["status"] = {"currentReplicas": 3}
    file = write(tmp_path / "autoscaler.yaml", given)
    status = main(
        ["recommend", "-f", file, *history_flags(prometheus, history), "--ceiling", "0.8"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith("#")
    manifest = yaml.safe_load(out)
    assert manifest["kind"] == "Autoscaler"
    assert "status" not in manifest
    assert manifest["metadata"] == {
        "name": known.WORKLOAD,
        "namespace": known.NAMESPACE,
        "annotations": {"team": "shop"},
    }
    recommended = replay(parse_spec(manifest["spec"]), known.known_trace(history.times))
    assert max(step.loads[0] or 0 for step in recommended.steps) <= 0.8
    assert sum(recommended.replicas) <= sum(
        replay(parse_spec(known.autoscaler()["spec"]), known.known_trace(history.times)).replicas
    )


def test_recommend_output_name_names_the_manifest_as_kubectl(
    prometheus: str, history: known.History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())
    flags = [*history_flags(prometheus, history), "--ceiling", "0.8", "-o", "name"]

    status = main(["recommend", "-f", file, *flags])

    assert (status, capsys.readouterr().out) == (0, f"autoscaler.podpilot.io/{known.WORKLOAD}\n")


def test_one_plot_has_the_expected_series(history: known.History, tmp_path: Path) -> None:
    trace = known.known_trace(history.times)
    replays = [
        replay(parse_spec(known.autoscaler()["spec"]), trace, name="a"),
        replay(parse_spec(known.queue_autoscaler()["spec"]), trace, name="b"),
    ]
    fig = backtest_plot.figure(replays, "two specs")
    load_axes, replica_axes = fig.get_axes()
    # the actual load, then per spec its load and its target line
    assert len(load_axes.get_lines()) == 1 + 2 * 2
    # the actual count, then per spec its count and its scale-event markers
    assert len(replica_axes.get_lines()) == 1 + 2 * 2
    png, svg = backtest_plot.save(fig, str(tmp_path / "plot.png"))
    assert (png.name, svg.name) == ("plot.png", "plot.svg")
    assert png_size(png) == (1000, 600)
    assert svg.read_text(encoding="utf-8").count('<g id="line2d_') >= 8


def test_prometheus_unreachable_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())
    status = main(["backtest", "-f", file, "--prometheus", f"http://127.0.0.1:{free_port()}"])
    assert status == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("podpilot backtest: error: cannot connect to http://127.0.0.1:")
