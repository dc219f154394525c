"""``podpilot explain`` of an Autoscaler whose status holds a valid RFC 3339 time at an end of
the years: ``0001-01-01T00:00:00+01:00`` is shown in UTC as ``metav1.Time`` writes it, in year 0;
``9999-12-31T23:59:59-01:00``, in year 10000 in UTC, is left out as an unreadable time is.
Neither is a traceback (converting the first to UTC used to overflow Python's datetime)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.local_http import serving
from tests.unit.commands.test_kubectl_habits import autoscaler, kubeconfig

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_OK

WEB = f"/apis/{GROUP}/{VERSION}/namespaces/shop/autoscalers/web"


def explained(seeded_at: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    found = autoscaler("shop", "web")
    found["status"]["takeover"] = {"from": "hpa/web", "seededAt": seeded_at, "replicas": 3}
    with serving({WEB: (200, json.dumps(found).encode())}) as url:
        config = kubeconfig(tmp_path / "config", {"c": (url, "shop")}, "c")
        status = main(["explain", "web", "--kubeconfig", str(config)])
    captured = capsys.readouterr()
    assert (status, captured.err) == (EXIT_OK, "")
    return captured.out.splitlines()


def test_a_seed_in_year_0_is_shown_in_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = explained("0001-01-01T00:00:00+01:00", tmp_path, capsys)

    assert lines[-1].endswith("last seeded at 3 replicas at 0000-12-31T23:00:00Z")


def test_a_seed_in_year_10000_is_left_out_as_an_unreadable_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreadable = explained("not a time", tmp_path, capsys)

    assert explained("9999-12-31T23:59:59-01:00", tmp_path, capsys) == unreadable
    assert not any("seeded" in line for line in unreadable)
