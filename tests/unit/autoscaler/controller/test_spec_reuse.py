"""A loop parses its Autoscaler's spec again only when the spec changed."""

from __future__ import annotations

import copy

import pytest

from podpilot.autoscaler.api.spec import SpecError
from podpilot.autoscaler.controller.loop import AutoscalerLoop, _parsed_spec
from podpilot.autoscaler.policy.plan import Memory

RAW = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "maxReplicas": 10,
}


def test_an_equal_copy_reuses_the_parsed_spec_and_the_loop_keeps_the_copy() -> None:
    loop = AutoscalerLoop("ns", "web", Memory(None))
    first = _parsed_spec(loop, RAW)
    again = copy.deepcopy(RAW)  # what the watch delivers after a status write
    assert _parsed_spec(loop, again) is first
    assert loop.parsed is not None and loop.parsed[0] is again


def test_a_changed_spec_is_parsed_anew() -> None:
    loop = AutoscalerLoop("ns", "web", Memory(None))
    first = _parsed_spec(loop, RAW)
    changed = {**RAW, "maxReplicas": 20}
    assert _parsed_spec(loop, changed).max_replicas == 20
    assert first.max_replicas == 10


def test_an_invalid_spec_raises_every_time_and_keeps_the_last_valid_one() -> None:
    loop = AutoscalerLoop("ns", "web", Memory(None))
    _parsed_spec(loop, RAW)
    invalid = {"maxReplicas": 10}
    for _ in range(2):
        with pytest.raises(SpecError, match="scaleTargetRef"):
            _parsed_spec(loop, invalid)
    assert loop.parsed is not None and loop.parsed[0] is RAW
