"""``backtest`` and ``recommend`` read their ``-f`` as ``convert`` reads its files: ``-`` for
stdin, a ``List`` (``kubectl get hpa -o yaml``), a directory's manifests; and refuse, as
``convert`` does, a manifest without a name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests import backtest_history as known
from tests.unit.commands.backtest_runs import (
    CEILING,
    WINDOW,
    feed_stdin,
    running,
    stand_in_for_prometheus,
    write,
)
from tests.unit.commands.convert_runs import manifest

from podpilot.cli import main
from podpilot.commands import backtest_inputs
from podpilot.commands.backtest_inputs import load_specs
from podpilot.commands.conventions import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError


def as_list(*items: object) -> dict[str, object]:
    """Objects as ``kubectl get -o yaml`` prints several."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {}}


@pytest.fixture(autouse=True)
def prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_for_prometheus(monkeypatch)


def test_recommend_reads_stdin_for_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, [known.autoscaler()])

    status, out, _ = running(["recommend", "-f", "-", *WINDOW, *CEILING, "-o", "name"], capsys)

    assert (status, out) == (EXIT_OK, "autoscaler.podpilot.io/web\n")


def test_backtest_reads_stdin_for_dash_and_names_the_spec_after_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, [known.hpa()])

    status, out, _ = running(["backtest", "-f", "-", *WINDOW, "-o", "json"], capsys)

    assert status == EXIT_OK
    assert [spec["name"] for spec in yaml.safe_load(out)["specs"]] == ["stdin"]


def test_a_list_as_kubectl_get_prints_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "hpas.yaml", as_list(known.hpa()))

    status, out, _ = running(["recommend", "-f", file, *WINDOW, *CEILING, "-o", "name"], capsys)

    assert (status, out) == (EXIT_OK, "autoscaler.podpilot.io/web\n")


def test_the_items_of_a_list_are_compared_and_named(tmp_path: Path) -> None:
    other = known.autoscaler(utilization=80)
    other["metadata"]["name"] = "web-80"
    file = write(tmp_path / "specs.yaml", as_list(known.autoscaler(), other))

    assert [spec.name for spec in load_specs([file])] == ["specs.yaml#web", "specs.yaml#web-80"]


def test_an_item_at_fault_is_named(tmp_path: Path) -> None:
    broken = known.autoscaler()
    broken["spec"]["minReplicas"] = "two"
    file = write(tmp_path / "specs.yaml", as_list(known.autoscaler(), broken))

    with pytest.raises(CommandError, match=r"specs\.yaml, item 2: spec\.minReplicas must be"):
        load_specs([file])


def test_a_directory_is_its_manifest_files_not_its_subdirectories(tmp_path: Path) -> None:
    write(tmp_path / "b.yml", known.autoscaler(utilization=80))
    write(tmp_path / "a.yaml", known.hpa())
    (tmp_path / "notes.txt").write_text("not a manifest", encoding="utf-8")
    (tmp_path / "deeper").mkdir()
    write(tmp_path / "deeper" / "c.yaml", {"kind": "Deployment"})

    assert [spec.name for spec in load_specs([str(tmp_path)])] == ["a.yaml", "b.yml"]


def test_convert_reads_a_directory_as_kubectl_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "web.json").write_text(json.dumps(yaml.safe_load(manifest())))
    (tmp_path / "api.yaml").write_text(manifest().replace("name: web", "name: api"))
    (tmp_path / "README.md").write_text("# not a manifest")

    status, out, err = running(["convert", "-f", str(tmp_path), "-o", "name"], capsys)

    assert (status, out, err) == (
        EXIT_OK,
        "autoscaler.podpilot.io/api\nautoscaler.podpilot.io/web\n",
        [],
    )


@pytest.mark.parametrize("command", ["backtest", "recommend"])
def test_a_manifest_without_a_name_is_refused_as_convert_refuses_it(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nameless = known.autoscaler()
    del nameless["metadata"]["name"]
    file = write(tmp_path / "autoscaler.yaml", nameless)
    flags = CEILING if command == "recommend" else []

    status, out, err = running([command, "-f", file, *WINDOW, *flags, "-o", "yaml"], capsys)

    assert (status, out) == (EXIT_FAILED, "")
    assert err == [
        f"podpilot {command}: error: {file}: metadata.name is required (or "
        "metadata.generateName): an Autoscaler needs a name"
    ]


def test_recommend_output_name_refuses_a_manifest_named_only_when_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only ``metadata.generateName``: the object has no name until the API server creates it,
    so ``-o name`` has none to print (it printed a bare ``autoscaler.podpilot.io/``)."""
    unnamed = known.autoscaler()
    del unnamed["metadata"]["name"]
    unnamed["metadata"]["generateName"] = "web-"
    file = write(tmp_path / "autoscaler.yaml", unnamed)

    def no_query(*_: object) -> object:
        raise AssertionError("Prometheus was queried")

    with monkeypatch.context() as queries:
        queries.setattr(backtest_inputs, "read_trace", no_query)
        status, out, err = running(
            ["recommend", "-f", file, *WINDOW, *CEILING, "-o", "name"], capsys
        )

    assert (status, out) == (EXIT_USAGE, "")
    assert err == [
        "podpilot recommend: error: -o name: the Autoscaler has no name, only "
        "metadata.generateName 'web-', which the API server completes when it creates the "
        "object: use -o yaml or -o json"
    ]
    status, out, _ = running(["recommend", "-f", file, *WINDOW, *CEILING, "-o", "yaml"], capsys)
    assert status == EXIT_OK
    assert yaml.safe_load(out)["metadata"] == {"generateName": "web-", "namespace": "shop"}


def test_a_missing_file_is_said_once_without_python_s_errno(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"

    assert main(["backtest", "-f", str(missing), *WINDOW]) == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot backtest: error: {missing}: cannot read: No such file or directory"
    ]
