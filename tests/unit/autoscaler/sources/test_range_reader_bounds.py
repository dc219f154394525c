"""The backtest's range reads are bounded as the live source's queries are, against servers on
127.0.0.1: a trickling answer ends at ``timeout`` in total, a large one is refused,
a refusal keeps a little of Prometheus's words, a matrix comes back."""

from __future__ import annotations

import json
import time

import pytest
from tests.local_http import serving

from podpilot.autoscaler.sources import prometheus_range
from podpilot.autoscaler.sources.prometheus_range import HistoryError, RangeReader, Window, per_pod
from podpilot.settings import MIB

from .trickling_server import Trickler, http_answer, trickling

WINDOW = Window(1_700_000_000, 1_700_000_120, 60)
MATRIX = [{"metric": {"pod": "web-1"}, "values": [[1_700_000_000, "1"], [1_700_000_060, "2"]]}]


def answer(result: object) -> bytes:
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}}
    ).encode()


def failure(url: str, timeout: float = 1.0, max_bytes: int = MIB) -> HistoryError:
    reader = RangeReader(url, timeout, max_response_bytes=max_bytes)
    try:
        with pytest.raises(HistoryError) as raised:
            reader.matrix("up", WINDOW)
        return raised.value
    finally:
        reader.close()


@pytest.mark.parametrize("trickled", ["headers", "body"])
def test_a_trickling_answer_ends_at_the_timeout(trickled: str) -> None:
    whole = http_answer(answer(MATRIX))
    at_once = 0 if trickled == "headers" else len(whole) - len(answer(MATRIX))
    with trickling(Trickler(whole, at_once=at_once)) as server:
        started = time.monotonic()
        error = failure(server.url)
        elapsed = time.monotonic() - started
    assert error.kind == "timeout" and "within 1 s" in str(error)
    assert 0.9 < elapsed < 1.6


def test_an_answer_beyond_the_limit_is_refused() -> None:
    series = [
        {"metric": {"pod": f"web-{i}"}, "values": [[1_700_000_000, "1"]]} for i in range(40_000)
    ]
    with serving({}, default=(200, answer(series))) as url:
        error = failure(url, max_bytes=MIB)
    assert error.kind == "response_too_large" and "1 MiB" in str(error)


def test_a_refusal_keeps_a_little_of_the_servers_words() -> None:
    refusal = {"status": "error", "errorType": "bad_data", "error": "parse error" + "!" * 1000}
    with serving({}, default=(400, json.dumps(refusal).encode())) as url:
        error = failure(url)
    assert error.kind == "refused" and "HTTP 400" in str(error) and "parse error" in str(error)
    assert len(str(error)) < 400


def test_a_matrix_is_read() -> None:
    with serving({"/api/v1/query_range": (200, answer(MATRIX))}) as url:
        reader = RangeReader(url + "/", 2.0)
        try:
            assert reader.matrix("up", WINDOW) == MATRIX
        finally:
            reader.close()


@pytest.mark.parametrize(
    "result",
    [[1, 2], ["web-1"], [{"metric": ["pod"], "values": []}], [{"metric": {}, "values": "1"}]],
    ids=["numbers", "strings", "labels-not-a-map", "points-not-a-list"],
)
def test_a_result_that_is_not_a_matrix_is_named_so(result: object) -> None:
    with serving({}, default=(200, answer(result))) as url:
        error = failure(url)
    assert "did not return a matrix" in str(error)


def test_points_of_another_shape_are_passed_over() -> None:
    odd = [{"metric": {"pod": "web-1"}, "values": [{"0": 1}, "12", [1_700_000_060, "2"]]}]
    assert per_pod(odd, WINDOW) == ({}, {"web-1": 2000}, {})


def test_per_pod_samples_are_rounded_up_to_milli_units_as_the_live_reads_are() -> None:
    samples = [
        {"metric": {"pod": "web-1"}, "values": [[1_700_000_000, "0.0001"], [1_700_000_060, "0.3"]]},
        {"metric": {"pod": "web-2"}, "values": [[1_700_000_000, "0.1234"]]},
    ]
    assert per_pod(samples, WINDOW)[:2] == ({"web-1": 1, "web-2": 124}, {"web-1": 300})


def test_an_html_refusal_is_quoted_on_one_line() -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n</body>\n</html>\n"
    with serving({}, default=(502, page)) as url:
        error = failure(url)
    assert "\n" not in str(error) and "<title>502 Bad Gateway</title>" in str(error)


@pytest.mark.parametrize(("step", "sent"), [(0.5, "0.5"), (60, "60.0"), (1_080_000, "1080000.0")])
def test_the_step_is_sent_in_seconds_as_prometheus_reads_a_float(
    step: float, sent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus takes a duration ("1m") or a float of seconds, never "0.5s" or "1.08e+06s"."""
    asked: list[dict[str, str]] = []

    def capture(session: object, url: str, timeout: float, params: dict[str, str]) -> object:
        asked.append(params)
        raise HistoryError("stop here", "refused")

    monkeypatch.setattr(prometheus_range, "streamed_get", capture)
    reader = RangeReader("http://127.0.0.1:1", 1.0)
    try:
        with pytest.raises(HistoryError):
            reader.matrix("up", Window(1_700_000_000, 1_700_000_000 + 10 * step, step))
    finally:
        reader.close()
    assert asked[0]["step"] == sent
