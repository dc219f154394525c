"""The list-and-watch's pure parts: splitting a streamed answer, watch event handling, backoff."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podpilot.kube.list_watch import (
    MAX_RETRY_SECONDS,
    REMOVED,
    ListWatch,
    ResourceExpiredError,
    after_failure,
    object_key,
    stream_lines,
)


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    def stream(self, amt: None, decode_content: bool) -> Iterator[bytes]:
        return iter(self._chunks)


def test_lines_split_across_chunks_are_joined() -> None:
    response = Chunks(b'{"type":"ADD', b'ED"}\n{"type":"BOOKMARK"}\n{"ty', b'pe":"DELETED"}\n')
    assert list(stream_lines(response)) == [
        b'{"type":"ADDED"}',
        b'{"type":"BOOKMARK"}',
        b'{"type":"DELETED"}',
    ]


def test_a_last_line_without_newline_is_kept() -> None:
    assert list(stream_lines(Chunks(b"a\n", b"b"))) == [b"a", b"b"]


def test_empty_answer_has_no_lines() -> None:
    assert list(stream_lines(Chunks())) == []


def test_retry_delay_doubles_up_to_its_cap() -> None:
    assert [after_failure(n, 0).delay for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert after_failure(100, 0).delay == MAX_RETRY_SECONDS


def test_object_key_of_cluster_scoped_and_namespaced_objects() -> None:
    assert object_key({"metadata": {"namespace": "shop", "name": "web-1"}}) == ("shop", "web-1")
    assert object_key({"metadata": {"name": "node-1"}}) == ("", "node-1")


class NoSink:
    def put(self, key: object, value: object) -> None:
        raise AssertionError("nothing is delivered for these events")

    def remove(self, key: object) -> None:
        raise AssertionError("nothing is delivered for these events")


def never_called(**_: object) -> None:
    raise AssertionError("no request is made")


def test_gone_error_event_asks_for_a_new_list() -> None:
    watch = ListWatch("pods", never_called, dict, NoSink())
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
    with pytest.raises(ResourceExpiredError):
        watch._handle(gone, "10")


def test_other_error_events_fail_the_watch_with_their_message() -> None:
    watch = ListWatch("pods", never_called, dict, NoSink())
    error = {"type": "ERROR", "object": {"code": 500, "message": "etcd unavailable"}}
    with pytest.raises(RuntimeError, match="etcd unavailable"):
        watch._handle(error, "10")


def test_bookmark_moves_the_resource_version_only() -> None:
    watch = ListWatch("pods", never_called, dict, NoSink())
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "42"}}}
    assert watch._handle(bookmark, "10") == "42"


def test_deletion_of_an_unknown_object_is_ignored() -> None:
    watch = ListWatch("pods", never_called, dict, NoSink())
    deleted = {"type": "DELETED", "object": {"metadata": {"name": "x", "resourceVersion": "11"}}}
    assert watch._handle(deleted, "10") == "11"


def test_an_object_that_cannot_be_converted_is_left_out() -> None:
    def convert(obj: object) -> int:
        raise ValueError("odd object")

    watch = ListWatch("pods", never_called, convert, NoSink())
    assert watch._converted(("shop", "web-1"), {}) is REMOVED
