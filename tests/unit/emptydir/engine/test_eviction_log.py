"""Evicted Events of pods already gone: reading them, keeping them bounded, never twice."""

from datetime import timedelta
from typing import Any

import pytest

from podpilot.emptydir.engine.eviction_log import (
    EvictionLog,
    EvictionNotice,
    gone_pods,
    notice_from_event,
    traced_only,
)
from podpilot.emptydir.engine.model import Finding, PodRef, Severity

from .helpers import NOW

MESSAGE = 'Usage of EmptyDir volume "data" exceeds the limit "4Mi". '


def event(**changes: Any) -> dict[str, Any]:
    """A core/v1 Event as the kubelet posts it for an eviction."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": "web-1.1",
            "namespace": "ns",
            "creationTimestamp": "2025-03-01T09:59:00Z",
        },
        "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "web-1", "uid": "uid-1"},
        "reason": "Evicted",
        "message": MESSAGE,
        "type": "Warning",
        "lastTimestamp": "2025-03-01T10:00:00Z",
    }
    body.update(changes)
    return body


def slim(uid: str = "uid-1", name: str = "web-1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": uid},
        "spec": {"volumes": [{"name": "data", "emptyDir": {"sizeLimit": "4Mi"}}]},
        "status": {"phase": "Running"},
    }


def notice(uid: str = "uid-1", age: timedelta = timedelta(), copy: bool = True) -> EvictionNotice:
    return EvictionNotice(
        PodRef("ns", f"pod-{uid}", uid), MESSAGE, NOW - age, slim(uid) if copy else None
    )


# --------------------------------------------------------------------------- reading Events


def test_a_kubelet_eviction_event_becomes_a_notice() -> None:
    found = notice_from_event(event(), NOW)
    assert found == EvictionNotice(
        PodRef("ns", "web-1", "uid-1"), MESSAGE, NOW.replace(minute=0, second=0)
    )


def test_events_k8s_io_shape_and_its_event_time() -> None:
    body = {
        "reason": "Evicted",
        "note": MESSAGE,
        "regarding": {"kind": "Pod", "namespace": "ns", "name": "web-1", "uid": "uid-1"},
        "eventTime": "2025-03-01T10:00:05.123456Z",
    }
    found = notice_from_event(body, NOW)
    assert found is not None
    assert found.at.second == 5 and found.message == MESSAGE


def test_time_falls_back_to_creation_then_to_reception() -> None:
    created = notice_from_event(event(lastTimestamp=None), NOW)
    assert created is not None and created.at.minute == 59
    bare = event(lastTimestamp=None, metadata={})
    received = notice_from_event(bare, NOW)
    assert received is not None and received.at == NOW


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"reason": "Killing"}, id="not-evicted"),
        pytest.param({"involvedObject": {"kind": "Node", "name": "n", "uid": "x"}}, id="node"),
        pytest.param({"involvedObject": {"kind": "Pod", "name": "p"}}, id="no-uid"),
        pytest.param({"message": "The node had condition: [DiskPressure]. "}, id="other-format"),
        pytest.param({"message": None}, id="no-message"),
    ],
)
def test_other_events_are_ignored(changes: dict[str, Any]) -> None:
    assert notice_from_event(event(**changes), NOW) is None


# --------------------------------------------------------------------------- the bounded log


def test_one_notice_per_pod_and_a_later_one_may_bring_the_copy() -> None:
    log = EvictionLog()
    log.record(notice(copy=False), NOW)
    log.record(notice(copy=False), NOW)  # the same Event, re-listed after a reconnect
    assert len(log) == 1
    assert log.current(NOW)[0].snapshot is None

    log.record(notice(copy=True), NOW)
    (kept,) = log.current(NOW)
    assert kept.snapshot == slim()


def test_notices_expire_an_hour_after_the_eviction() -> None:
    log = EvictionLog()
    log.record(notice("old", age=timedelta(hours=1, seconds=1)), NOW)
    assert len(log) == 0  # already too old when it arrives (e.g. listed at start)

    log.record(notice("young", age=timedelta(minutes=59)), NOW)
    assert [n.pod.uid for n in log.current(NOW)] == ["young"]
    assert log.current(NOW + timedelta(minutes=2)) == ()


def test_notices_that_never_find_their_pod_expire_sooner() -> None:
    log = EvictionLog()
    log.record(notice("lost", copy=False), NOW)
    log.record(notice("found", copy=True), NOW)
    later = NOW + timedelta(minutes=5, seconds=1)
    assert [n.pod.uid for n in log.current(later)] == ["found"]


def test_the_log_keeps_at_most_max_entries_dropping_the_oldest() -> None:
    log = EvictionLog(max_entries=3)
    for minute in range(5):
        log.record(notice(f"uid-{minute}", age=timedelta(minutes=10 - minute)), NOW)
    assert [n.pod.uid for n in log.current(NOW)] == ["uid-2", "uid-3", "uid-4"]


def test_attach_fills_the_copy_from_pods_seen_in_the_model() -> None:
    log = EvictionLog()
    log.record(notice("uid-1", copy=False), NOW)
    log.record(notice("uid-2", copy=True), NOW)
    replacement = slim("uid-2", name="other")
    log.attach([slim("uid-1"), replacement, slim("uid-9")])
    by_uid = {n.pod.uid: n.snapshot for n in log.current(NOW)}
    assert by_uid["uid-1"] == slim("uid-1")
    assert by_uid["uid-2"] == slim("uid-2")  # a copy already taken is kept
    assert "uid-9" not in by_uid


# --------------------------------------------------------------------------- dedupe with the pods


def test_a_pod_still_in_the_model_is_left_to_its_own_status() -> None:
    assert gone_pods([notice("uid-1")], present=["uid-1"]) == []


def test_a_gone_pod_is_audited_from_its_copy_with_the_eviction_in_its_status() -> None:
    (pod,) = gone_pods([notice("uid-1"), notice("uid-2", copy=False)], present=["uid-3"])
    assert pod["metadata"]["uid"] == "uid-1"
    assert pod["status"] == {"phase": "Failed", "reason": "Evicted", "message": MESSAGE}
    assert pod["spec"] == slim()["spec"]


def test_traced_only_keeps_evictions_and_oom_kills_and_says_where_they_came_from() -> None:
    ref = PodRef("ns", "p", "uid-1")
    findings = [
        Finding("ED001", "DiskNoSizeLimit", Severity.WARNING, "m", ref, "data"),
        Finding("ED020", "EvictedEmptyDirLimit", Severity.CRITICAL, "m", ref, "data"),
        Finding("ED023", "OOMKilledWithTmpfs", Severity.WARNING, "m", ref, "shm", "app"),
    ]
    kept = traced_only(findings)
    assert [f.id for f in kept] == ["ED020", "ED023"]
    assert all(("tracedFrom", "EvictedEvent") in f.evidence for f in kept)
    assert all(f.key == g.key for f, g in zip(kept, findings[1:], strict=True))
