"""A served field of another type reads as absent, never raises."""

from __future__ import annotations

from types import MappingProxyType

from podpilot.apimachinery.json_fields import count, mapping, mappings, plain, sequence


def test_a_field_of_another_type_reads_as_absent() -> None:
    assert mapping({"a": 1}) == {"a": 1}
    assert mapping(["a"]) == {} and mapping(None) == {} and mapping("a") == {}
    assert sequence([1, 2]) == [1, 2] and sequence({"a": 1}) == [] and sequence("ab") == []
    assert mappings([{"a": 1}, "b", None, {"c": 2}]) == [{"a": 1}, {"c": 2}]
    assert mappings({"a": 1}) == []


def test_a_count_is_a_whole_number_and_a_boolean_is_not_one() -> None:
    assert count(3) == 3
    assert count(True) == 0 and count(2.5) == 0 and count("3") == 0 and count(None) == 0


def test_plain_copies_views_into_dicts_and_lists() -> None:
    inner = {"b": [1, (2, 3)]}
    copied = plain(MappingProxyType({"a": MappingProxyType(inner)}))
    assert copied == {"a": {"b": [1, [2, 3]]}}
    assert type(copied["a"]) is dict
    copied["a"]["b"].append(4)
    assert inner == {"b": [1, (2, 3)]}
