"""One pod watch for several consumers: each gets every pod converted its own way."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import kubernetes
import pytest

from podpilot.kube.list_watch import Consumer, Fanout, ObjectKey
from podpilot.kube.pod_watch import PodWatch


class Recording:
    def __init__(self) -> None:
        self.kept: dict[ObjectKey, Any] = {}
        self.removed: list[ObjectKey] = []

    def put(self, key: ObjectKey, value: Any) -> None:
        self.kept[key] = value

    def remove(self, key: ObjectKey) -> None:
        self.kept.pop(key, None)
        self.removed.append(key)


def pod(name: str, node: str | None) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name}, "spec": {"nodeName": node}}


def scheduled_only(obj: Any) -> str | None:
    return obj["spec"]["nodeName"]


def failing(obj: Any) -> str:
    raise KeyError("no such field")


def test_each_consumer_keeps_its_own_conversion_and_none_removes() -> None:
    names, nodes = Recording(), Recording()
    fanout = Fanout()
    fanout.consumers += [
        Consumer("names", lambda obj: obj["metadata"]["name"], names),
        Consumer("nodes", scheduled_only, nodes),
    ]
    for body in (pod("a", "node-1"), pod("b", None)):
        fanout.put(("ns", body["metadata"]["name"]), fanout.convert(body))
    assert names.kept == {("ns", "a"): "a", ("ns", "b"): "b"}
    assert nodes.kept == {("ns", "a"): "node-1"}

    fanout.put(("ns", "a"), fanout.convert(pod("a", None)))  # unscheduled again
    assert nodes.kept == {} and names.kept[("ns", "a")] == "a"

    fanout.remove(("ns", "b"))
    assert ("ns", "b") in names.removed and ("ns", "b") in nodes.removed


def test_a_conversion_that_fails_leaves_the_pod_out_of_that_consumer_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept, broken = Recording(), Recording()
    fanout = Fanout()
    fanout.consumers += [
        Consumer("kept", scheduled_only, kept),
        Consumer("broken", failing, broken),
    ]
    fanout.put(("ns", "a"), fanout.convert(pod("a", "node-1")))
    assert kept.kept == {("ns", "a"): "node-1"}
    assert broken.kept == {} and broken.removed == [("ns", "a")]
    assert "ns/a left out by broken" in caplog.text


class Refusing(Recording):
    def put(self, key: ObjectKey, value: Any) -> None:
        raise RuntimeError("a bug in this consumer")


def test_a_sink_that_fails_concerns_its_own_consumer_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing, kept = Refusing(), Recording()
    fanout = Fanout()
    fanout.consumers += [Consumer("refusing", scheduled_only, refusing)]
    fanout.consumers += [Consumer("kept", scheduled_only, kept)]
    fanout.put(("ns", "a"), fanout.convert(pod("a", "node-1")))
    assert kept.kept == {("ns", "a"): "node-1"}
    assert refusing.removed == [("ns", "a")]
    assert "ns/a left out by refusing: it could not be kept" in caplog.text


def pod_watch() -> PodWatch:
    clients = SimpleNamespace(kubernetes=kubernetes.client.ApiClient())
    return PodWatch(clients, ("team-a", "team-b"))  # type: ignore[arg-type]


def test_subscribing_after_the_start_is_refused() -> None:
    watch = pod_watch()
    watch.start()  # nobody subscribed: nothing is watched, nothing is dialled
    with pytest.raises(RuntimeError, match="late subscribed to the pod watch after it started"):
        watch.subscribe("late", scheduled_only, Recording())
