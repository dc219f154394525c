"""The JSON digest: equal values digest alike whatever their key order; any change shows."""

from __future__ import annotations

from datetime import UTC, datetime

from podpilot.apimachinery.digests import json_digest


def test_key_order_does_not_matter() -> None:
    first = {"a": 1, "b": {"c": [1, 2], "d": None}}
    second = {"b": {"d": None, "c": [1, 2]}, "a": 1}
    assert json_digest(first) == json_digest(second)


def test_a_changed_value_or_list_order_changes_the_digest() -> None:
    base = json_digest({"a": [1, 2]})
    assert json_digest({"a": [2, 1]}) != base
    assert json_digest({"a": [1, 3]}) != base
    assert json_digest({"a": [1, 2], "b": None}) != base


def test_values_json_cannot_hold_digest_as_their_text() -> None:
    at = datetime(2026, 12, 8, tzinfo=UTC)
    assert json_digest({"at": at}) == json_digest({"at": str(at)})
    assert len(json_digest({"at": at})) == 16
