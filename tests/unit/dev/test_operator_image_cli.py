"""``python -m podpilot_dev.operator_image``: its arguments and what it prints (no build: the
archive is either found cached or the build is replaced by a failing one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpilot_dev import operator_image
from podpilot_dev.paths import repo_root


def test_the_cache_directory_defaults_to_the_builds_own() -> None:
    assert operator_image.parse_arguments([]).directory is None
    chosen = operator_image.parse_arguments(["--directory", "/tmp/images"]).directory
    assert chosen == Path("/tmp/images")


def test_an_unknown_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        operator_image.parse_arguments(["--tag", "x"])
    assert exited.value.code == 2
    assert "--tag" in capsys.readouterr().err


def test_a_cached_archive_prints_its_reference_and_path_alone_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = operator_image.source_key(repo_root())[:12]
    archive = tmp_path / f"podpilot-{tag}.oci.tar"
    archive.write_bytes(b"stands in for the archive")

    assert operator_image.main(["--directory", str(tmp_path)]) == 0

    out, err = capsys.readouterr()
    assert out == f"{operator_image.REPOSITORY}:{tag}\t{archive}\n"
    assert "cached" in err


def test_a_failed_build_exits_1_with_the_steps_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(**_: object) -> operator_image.BuiltImage:
        raise operator_image.ImageBuildError("apt-get download failed (exit 100): E: no such")

    monkeypatch.setattr(operator_image, "build", failing)

    assert operator_image.main(["--directory", str(tmp_path)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: apt-get download failed (exit 100): E: no such\n"
