"""A complete LIST replaces what the sink holds: whatever the sink holds that the list lacks is
removed, whether a watch event or a page of an earlier, unfinished LIST delivered it. The
apiserver is a scripted fake list call; the watch thread runs for real."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from podpilot.kube.list_watch import ListWatch, ObjectKey

Answer = Any  # a list page or a watch: what the fake returns; an exception: what it raises


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": name, "resourceVersion": "1"}}


class Page:
    def __init__(self, names: list[str], continue_token: str | None = None) -> None:
        metadata = {"resourceVersion": "9", "continue": continue_token}
        self.data = json.dumps({"metadata": metadata, "items": [pod(n) for n in names]}).encode()

    def release_conn(self) -> None:
        pass


class Watch:
    """A watch that sends ``events`` then fails, or, with none, stays open until shut down."""

    def __init__(self, events: list[Mapping[str, Any]] | None = None) -> None:
        self._events = events
        self._shut = threading.Event()

    def stream(self, amt: None, decode_content: bool) -> Iterator[bytes]:
        if self._events is None:
            self._shut.wait(10.0)
            return
        for event in self._events:
            yield json.dumps(event).encode() + b"\n"
        raise ConnectionResetError("the apiserver reset the watch")

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        self._shut.set()


class ExpiredError(Exception):
    status = 410


class ScriptedApi:
    """Answers each LIST and each WATCH with the next of its script; the last one repeats."""

    def __init__(self, lists: list[Answer], watches: list[Answer]) -> None:
        self._scripts = {False: lists, True: watches}

    def __call__(self, **params: Any) -> Any:
        script = self._scripts[bool(params.get("watch"))]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sink:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def put(self, key: ObjectKey, value: str) -> None:
        self.names.add(value)

    def remove(self, key: ObjectKey) -> None:
        self.names.discard(key[1])


def name_of(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def sink_after_lists(api: ScriptedApi, lists: int) -> set[str]:
    async def scenario() -> set[str]:
        sink = Sink()
        watch = ListWatch("pods", api, name_of, sink, relist_after=1, retry_base=0.001)
        watch.start()
        try:
            while watch.lists < lists:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.01)  # the last list's removals reach the sink
            return sink.names
        finally:
            watch.stop()
            watch.join(5.0)

    return asyncio.run(asyncio.wait_for(scenario(), 10.0))


@pytest.mark.parametrize(
    "page_2_failure",
    [TimeoutError("page 2 read timed out"), ExpiredError("continue token expired")],
    ids=["timeout", "expired-continue-token"],
)
def test_a_pod_from_an_unfinished_list_is_removed_by_the_next_list(
    page_2_failure: Exception,
) -> None:
    # Page 1 delivers web-1 and web-2, page 2 fails; web-2 is deleted before the list is
    # retried, so no watch will ever tell of its deletion.
    api = ScriptedApi(
        lists=[Page(["web-1", "web-2"], continue_token="page-2"), page_2_failure, Page(["web-1"])],
        watches=[Watch()],
    )
    assert sink_after_lists(api, lists=1) == {"web-1"}


def test_a_pod_a_watch_added_is_removed_by_a_list_that_lacks_it() -> None:
    added = {"type": "ADDED", "object": pod("web-2")}
    api = ScriptedApi(lists=[Page(["web-1"])], watches=[Watch([added]), Watch()])
    assert sink_after_lists(api, lists=2) == {"web-1"}
