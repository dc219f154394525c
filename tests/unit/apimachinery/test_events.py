"""core/v1 Event bodies: namespace rules, involved object, message limit, timestamps, source."""

from datetime import UTC, datetime

from podpilot.apimachinery.events import (
    MESSAGE_LIMIT,
    EventSpec,
    ObjectRef,
    event_body,
    event_namespace,
    name_suffix,
)

NOW = datetime(2026, 11, 25, 19, 40, 1, 250000, tzinfo=UTC)
NODE = ObjectRef("v1", "Node", "node-a", uid="uid-a")
POD = ObjectRef("v1", "Pod", "p", "ns", "uid-p")


def spec(about: ObjectRef, message: str = "m") -> EventSpec:
    return EventSpec(about, "Warning", "Reason", message, "podpilot-test")


def test_a_cluster_scoped_object_gets_its_events_in_default() -> None:
    assert event_namespace(NODE) == "default"
    assert event_namespace(POD) == "ns"


def test_the_body_of_an_event_about_a_node() -> None:
    assert event_body(spec(NODE), NOW, suffix="0123456789abcdef") == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "node-a.0123456789abcdef", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "uid-a"},
        "type": "Warning",
        "reason": "Reason",
        "message": "m",
        "source": {"component": "podpilot-test"},
        "reportingComponent": "podpilot-test",
        "firstTimestamp": "2026-11-25T19:40:01Z",
        "lastTimestamp": "2026-11-25T19:40:01Z",
        "count": 1,
    }


def test_a_namespaced_object_is_referenced_with_its_namespace() -> None:
    body = event_body(spec(POD), NOW)
    assert body["metadata"]["namespace"] == "ns"
    assert body["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "p",
        "namespace": "ns",
        "uid": "uid-p",
    }


def test_an_unknown_uid_is_left_out() -> None:
    body = event_body(spec(ObjectRef("podpilot.io/v1alpha1", "FlannelNetworkReport", "c")), NOW)
    assert "uid" not in body["involvedObject"]
    assert "namespace" not in body["involvedObject"]


def test_long_messages_are_cut_to_the_api_limit() -> None:
    assert len(event_body(spec(POD, "x" * 5000), NOW)["message"]) == MESSAGE_LIMIT == 1024


def test_names_are_unique() -> None:
    names = {event_body(spec(POD), NOW)["metadata"]["name"] for _ in range(50)}
    assert len(names) == 50
    assert all(name.startswith("p.") for name in names)
    assert len(name_suffix()) == 16
