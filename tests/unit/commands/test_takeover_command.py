"""``podpilot takeover``'s refusals and error paths against a local fake apiserver (reads
only: every case here fails before the first write): one line, the documented exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.local_http import serving, write_kubeconfig

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_USAGE
from podpilot.commands.takeover import EXIT_REFUSED

HPA_PATH = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web"
AUTOSCALERS_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/shop/autoscalers"
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": 5,
    },
    "status": {"currentReplicas": 3, "desiredReplicas": 3},
}


def kubeconfig(tmp_path: Path, url: str) -> Path:
    return write_kubeconfig(tmp_path / "config", url)


def autoscaler(shadow: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Autoscaler",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "9"},
        "spec": {"scaleTargetRef": HPA["spec"]["scaleTargetRef"], "mode": "DryRun"},  # type: ignore[index]
        "status": {"shadow": shadow} if shadow else {},
    }


def run(tmp_path: Path, answers: dict[str, tuple[int, bytes]], *argv: str) -> int:
    with serving(answers) as url:
        config = kubeconfig(tmp_path, url)
        return main(["takeover", *argv, "-n", "shop", "--kubeconfig", str(config)])


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [
        (None, "no shadow tally of HPA web"),
        ({"hpa": "web", "evaluations": 3, "agreed": 3}, "only 3 comparable evaluations"),
        ({"hpa": "web", "evaluations": 40, "agreed": 30}, "in 30 of 40 evaluations (75.0%)"),
    ],
    ids=["no-tally", "too-few", "disagrees"],
)
def test_a_takeover_the_tally_does_not_allow_is_refused_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    shadow: dict[str, Any] | None,
    expected: str,
) -> None:
    answers = {
        HPA_PATH: (200, json.dumps(HPA).encode()),
        AUTOSCALERS_PATH: (200, json.dumps({"items": [autoscaler(shadow)]}).encode()),
    }
    code = run(tmp_path, answers, "hpa", "web")
    lines = capsys.readouterr().err.splitlines()
    assert code == EXIT_REFUSED == 4
    assert len(lines) == 1
    assert lines[0].startswith("podpilot takeover: error: refusing to take over HPA web: ")
    assert expected in lines[0]


def test_a_missing_hpa_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(tmp_path, {}, "hpa/web")
    assert code == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        "podpilot takeover: error: HorizontalPodAutoscaler shop/web not found"
    ]


def test_undo_without_a_kept_manifest_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {AUTOSCALERS_PATH: (200, json.dumps({"items": [autoscaler(None)]}).encode())}
    code = run(tmp_path, answers, "--undo", "hpa", "web")
    assert code == EXIT_FAILED
    (line,) = capsys.readouterr().err.splitlines()
    assert "no Autoscaler in namespace shop keeps the manifest of HPA web" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["deployment", "web"], "only an HPA can be taken over (TYPE is hpa), not 'deployment'"),
        (["hpa"], "the HPA's NAME is required"),
        (["hpa/web", "web"], "give either TYPE/NAME or TYPE NAME, not both"),
        (["hpa", "web", "--threshold", "1.5"], "--threshold must be between 0 and 1"),
    ],
)
def test_a_wrong_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert main(["takeover", *argv]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [f"podpilot takeover: error: {expected}"]


def test_the_refusal_status_is_documented_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["takeover", "--help"])
    assert "  4    refused: the shadow tally does not allow a takeover" in capsys.readouterr().out
