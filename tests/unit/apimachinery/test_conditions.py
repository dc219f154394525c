"""A condition's lastTransitionTime moves only when its status flips."""

from __future__ import annotations

from podpilot.apimachinery.conditions import by_type, written_condition

BEFORE = [
    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T00:00:00Z"},
    {"type": "Stale", "status": "False"},
]
NOW = "2026-12-07T05:00:00Z"


def test_an_unchanged_status_keeps_its_transition_time_and_a_flip_takes_now() -> None:
    before = by_type(BEFORE)
    kept = written_condition("Ready", "True", "Up", "fine", before=before.get("Ready"), now=NOW)
    assert kept == {
        "type": "Ready",
        "status": "True",
        "reason": "Up",
        "message": "fine",
        "lastTransitionTime": "2026-12-01T00:00:00Z",
    }
    flipped = written_condition("Ready", "False", "Down", "x", before=before.get("Ready"), now=NOW)
    assert flipped["lastTransitionTime"] == NOW


def test_a_new_condition_or_one_written_without_a_time_takes_now() -> None:
    before = by_type(BEFORE)
    assert (
        written_condition("New", "True", "r", "m", before=None, now=NOW)["lastTransitionTime"]
        == NOW
    )
    stale = written_condition("Stale", "False", "r", "m", before=before.get("Stale"), now=NOW)
    assert stale["lastTransitionTime"] == NOW
