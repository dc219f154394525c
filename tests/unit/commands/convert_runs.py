"""One HPA manifest to vary and one way to run ``podpilot convert`` on it, for the convert
tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpilot.cli import main

HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
{metadata}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
{spec}
"""


def manifest(metadata: str = "", spec: str = "  maxReplicas: 10") -> str:
    return HPA.format(metadata=metadata, spec=spec)


def converting(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, list[str]]:
    """The exit status, stdout and stderr lines (the file's path as FILE) of converting
    ``text`` from a file."""
    file = tmp_path / "hpa.yaml"
    file.write_text(text, encoding="utf-8")
    status = main(["convert", str(file), *flags])
    captured = capsys.readouterr()
    return (
        status,
        captured.out,
        [line.replace(str(file), "FILE") for line in captured.err.splitlines()],
    )
