"""Answers a Prometheus server gives that must not be used as if complete: partial (warnings),
failed, not JSON, and values beyond a quantity's range. Pure checks first, then the same
answers served by a real HTTP server on 127.0.0.1 through ``Connection`` and the source."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.local_http import serving

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.prometheus import PrometheusQuery, PrometheusSource
from podpilot.autoscaler.sources.prometheus_connection import (
    Connection,
    ConnectionSettings,
    Credentials,
)
from podpilot.autoscaler.sources.promql_result import (
    MAX_VALUE,
    EmptyResult,
    Reduction,
    ResultError,
    instant_query_result,
    reduce_samples,
    samples_of,
)

VECTOR = [{"metric": {"pod": "a"}, "value": [100.0, "2"]}]
PARTIAL = {
    "status": "success",
    "data": {"resultType": "vector", "result": VECTOR},
    "warnings": ["partial response: store 10.0.0.7:10901 unavailable " + "x" * 5000, "second"],
}


def test_a_complete_answer_gives_its_result() -> None:
    answer = {"status": "success", "data": {"resultType": "vector", "result": VECTOR}}
    assert instant_query_result(answer) == VECTOR
    assert instant_query_result({**answer, "infos": ["PromQL info: ..."]}) == VECTOR


def test_a_partial_answer_is_an_error_that_counts_the_warnings_without_quoting_them() -> None:
    with pytest.raises(ResultError) as raised:
        instant_query_result(PARTIAL)
    text = str(raised.value)
    assert raised.value.kind == "partial_response"
    assert "2 warning(s)" in text
    assert "10.0.0.7" not in text and "second" not in text


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        {"status": "success"},
        {"status": "success", "data": "nope"},
        ["not", "an", "object"],
    ],
)
def test_failed_or_shapeless_answers_are_bad_responses(answer: Any) -> None:
    with pytest.raises(ResultError) as raised:
        instant_query_result(answer)
    assert raised.value.kind == "bad_response"


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1.7976931348623157e308", "1e17"])
def test_a_value_beyond_a_quantity_is_refused_before_any_arithmetic(value: str) -> None:
    with pytest.raises(ResultError) as raised:
        samples_of([{"metric": {}, "value": [1.0, value]}])
    assert raised.value.kind == "bad_response"
    assert "range of a quantity" in str(raised.value)


def test_a_sum_beyond_a_quantity_is_refused_though_each_value_fits() -> None:
    near = MAX_VALUE * 0.75
    with pytest.raises(ResultError) as raised:
        reduce_samples([(1.0, near), (1.0, near)], Reduction.SUM, EmptyResult.ERROR)
    assert "range of a quantity" in str(raised.value)
    assert reduce_samples([(1.0, near)], Reduction.SUM, EmptyResult.ERROR).milli > 0


class OneConnection:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def connection(self, namespace: str, name: str) -> Connection:
        return self._connection

    def close(self) -> None:
        self._connection.close()


def read_from(body: bytes) -> int:
    """The source's reading of a server that answers ``body``."""
    with serving({}, default=(200, body)) as url:
        connection = Connection(ConnectionSettings(url, 2.0), Credentials())
        source = PrometheusSource(None, resolver=OneConnection(connection))  # type: ignore[arg-type]
        try:
            return asyncio.run(source.read(PrometheusQuery("ns", "main", "sum(up)"))).milli
        finally:
            source.close()


def test_a_served_complete_answer_is_read() -> None:
    body = {"status": "success", "data": {"resultType": "vector", "result": VECTOR}}
    assert read_from(json.dumps(body).encode()) == 2000


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (json.dumps(PARTIAL).encode(), "partial_response", "2 warning(s)"),
        (b"<html>proxy login</html>", "bad_response", "not JSON"),
        (
            json.dumps(
                {"status": "success", "data": {"result": [{"value": [1.0, "1e308"]}]}}
            ).encode(),
            "bad_response",
            "range of a quantity",
        ),
    ],
)
def test_a_served_unusable_answer_is_a_source_failure(body: bytes, kind: str, words: str) -> None:
    with pytest.raises(MetricSourceError) as raised:
        read_from(body)
    assert raised.value.kind == kind
    assert words in str(raised.value) and "Prometheus server ns/main" in str(raised.value)
    assert f"{kind}: " in str(raised.value)
    assert "10.0.0.7" not in str(raised.value) and "proxy login" not in str(raised.value)
