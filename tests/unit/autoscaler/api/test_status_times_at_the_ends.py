"""Times at the ends of RFC 3339 in an Autoscaler's status (the CRD's ``date-time`` fields take
any offset): one in year 0 in UTC (``0001-01-01T00:00:00+01:00``) is explained and written back
as ``metav1.Time`` writes it, ``0000-12-31T23:00:00Z``; one in year 10000 in UTC
(``9999-12-31T23:59:59-01:00``), which has no RFC 3339 form there, is treated as any text that
is not a timestamp. Neither ends ``explain`` or an evaluation in a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podpilot.autoscaler.api.explanation import explain
from podpilot.autoscaler.api.shadow import tally_from_status, tally_to_status
from podpilot.autoscaler.api.status import history_from_status, history_to_status
from podpilot.autoscaler.api.takeover import TakeoverSeed
from podpilot.autoscaler.api.takeover_from import (
    describe_record,
    record_from_status,
    record_to_status,
)

YEAR_ZERO = "0001-01-01T00:00:00+01:00"
YEAR_ZERO_IN_UTC = "0000-12-31T23:00:00Z"
YEAR_TEN_THOUSAND = "9999-12-31T23:59:59-01:00"


def autoscaler(seeded_at: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {"maxReplicas": 5},
        "status": {
            "reference": "Deployment/web",
            "lastDecision": {"evaluatedAt": "2026-12-02T10:00:00Z", "action": "None"},
            "takeover": {"from": "hpa/web", "seededAt": seeded_at, "replicas": 3},
        },
    }


def test_explain_tells_a_seed_of_year_0_in_utc() -> None:
    lines = explain(autoscaler(YEAR_ZERO)).splitlines()

    assert lines[-1] == (
        "Taking over from hpa/web (annotation podpilot.io/takeover-from): held while the HPA "
        f"exists; last seeded at 3 replicas at {YEAR_ZERO_IN_UTC}"
    )


def test_explain_leaves_out_a_seed_of_year_10000_as_it_leaves_out_an_unreadable_one() -> None:
    unreadable = explain(autoscaler("not a time"))

    assert explain(autoscaler(YEAR_TEN_THOUSAND)) == unreadable
    assert "Taking over" not in unreadable


@pytest.mark.parametrize("seeded_at", [YEAR_ZERO, YEAR_ZERO_IN_UTC])
def test_a_record_of_year_0_is_written_back_as_the_api_server_writes_it(seeded_at: str) -> None:
    record = record_from_status({"from": "hpa/web", "seededAt": seeded_at, "replicas": 3})

    assert record is not None
    stored = record_to_status(record)
    assert stored is not None
    assert stored["seededAt"] == "0000-12-31T23:00:00.000000Z"
    assert record_from_status(stored) == record
    assert describe_record(stored)[0].endswith(f"last seeded at 3 replicas at {YEAR_ZERO_IN_UTC}")


@pytest.mark.parametrize("seeded_at", [YEAR_TEN_THOUSAND, "0000-01-01T00:00:00+01:00", 5])
def test_a_record_of_no_rfc3339_time_is_unreadable(seeded_at: object) -> None:
    assert record_from_status({"from": "hpa/web", "seededAt": seeded_at, "replicas": 3}) is None


def test_a_seed_annotation_at_either_end() -> None:
    at_zero = TakeoverSeed.from_annotation(json.dumps({"replicas": 2, "at": YEAR_ZERO}))
    assert at_zero is not None
    assert json.loads(at_zero.to_annotation())["at"] == "0000-12-31T23:00:00.000000Z"
    assert TakeoverSeed.from_annotation(at_zero.to_annotation()) == at_zero

    text = json.dumps({"replicas": 2, "at": YEAR_TEN_THOUSAND})
    assert TakeoverSeed.from_annotation(text) is None


def test_the_history_and_the_shadow_tally_are_written_back() -> None:
    history = history_from_status(
        {
            "recommendations": [{"replicas": 3, "timestamp": YEAR_ZERO}],
            "scaleUpEvents": [{"replicaChange": 1, "timestamp": YEAR_ZERO}],
        }
    )
    assert history is not None
    written = history_to_status(history)
    assert written["recommendations"][0]["timestamp"] == "0000-12-31T23:00:00.000000Z"
    assert written["scaleUpEvents"][0]["timestamp"] == "0000-12-31T23:00:00.000000Z"
    assert history_from_status(written) == history

    tally = tally_from_status({"hpa": "web", "lastDisagreement": {"time": YEAR_ZERO}})
    assert tally is not None
    shown = tally_to_status(tally)["lastDisagreement"]["time"]
    assert shown == "0000-12-31T23:00:00.000000Z"
