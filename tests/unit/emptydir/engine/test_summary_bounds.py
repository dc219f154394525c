"""A hostile Summary body costs a bounded error or a bounded summary: nesting too deep for the
decoder and running out of memory are decode errors, and problems are capped with a count."""

import json

import pytest

from podpilot.emptydir.engine import summary as summary_module
from podpilot.emptydir.engine.summary import (
    MAX_PROBLEMS_KEPT,
    SummaryDecodeError,
    decode_summary,
)

DEPTH = 100_000


def test_a_body_nested_beyond_the_decoder_is_a_decode_error() -> None:
    body = b'{"pods":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    with pytest.raises(SummaryDecodeError, match="nested deeper"):
        decode_summary(body)


def test_running_out_of_memory_while_decoding_is_a_decode_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def exhausted(body: object) -> object:
        raise MemoryError

    monkeypatch.setattr(summary_module.json, "loads", exhausted)
    with pytest.raises(SummaryDecodeError, match="too large"):
        decode_summary(b"{}")


def test_problems_are_capped_and_the_rest_counted() -> None:
    entries = 1_000
    summary = decode_summary(json.dumps({"node": {}, "pods": [{}] * entries}).encode())
    assert len(summary.problems) == MAX_PROBLEMS_KEPT
    assert summary.problems[0] == "pods[0].podRef.uid: missing"
    assert summary.problems_omitted == entries - MAX_PROBLEMS_KEPT
    assert summary.pods == {}


def test_a_summary_with_few_problems_omits_none() -> None:
    summary = decode_summary(b'{"node": {}, "pods": [{}]}')
    assert summary.problems == ("pods[0].podRef.uid: missing",)
    assert summary.problems_omitted == 0
