"""The reporter's pods from the pod watch: filed under their node, every change heard."""

from __future__ import annotations

from typing import Any

from podpilot.apimachinery.selectors import Selector
from podpilot.flannel.controller.watched_pods import PodsByNode
from podpilot.flannel.engine.model_cache import slim_pod


def body(name: str, node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": "flannel"}},
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "podIP": "10.244.1.5"},
    }


def slim(name: str, node: str) -> dict[str, Any]:
    converted = slim_pod(body(name, node), Selector(()))
    assert converted is not None
    return converted


def test_pods_are_filed_under_their_node_and_move_with_it() -> None:
    heard: list[str] = []
    pods = PodsByNode(lambda: heard.append("changed"))
    pods.put(("ns", "a"), slim("a", "node-1"))
    pods.put(("ns", "b"), slim("b", "node-1"))
    assert sorted(p["metadata"]["name"] for p in pods["node-1"]) == ["a", "b"]

    pods.put(("ns", "a"), slim("a", "node-2"))
    assert [p["metadata"]["name"] for p in pods.get("node-1", ())] == ["b"]
    assert [p["metadata"]["name"] for p in pods.get("node-2", ())] == ["a"]

    pods.remove(("ns", "b"))
    pods.remove(("ns", "b"))  # not kept any more: nothing to hear
    assert dict(pods).keys() == {"node-2"} and len(pods) == 1
    assert len(heard) == 4


def test_an_event_that_leaves_the_slim_copy_alone_is_not_a_change() -> None:
    heard: list[str] = []
    pods = PodsByNode(lambda: heard.append("changed"))
    pods.put(("ns", "a"), slim("a", "node-1"))
    pods.put(("ns", "a"), slim("a", "node-1"))  # status churn the slim copy drops
    assert heard == ["changed"]

    readdressed = slim("a", "node-1")
    readdressed["status"]["podIP"] = "10.244.1.6"
    pods.put(("ns", "a"), readdressed)
    assert heard == ["changed", "changed"]
    assert [p["status"]["podIP"] for p in pods["node-1"]] == ["10.244.1.6"]
