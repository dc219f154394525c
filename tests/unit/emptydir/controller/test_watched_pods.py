"""The audit's pods from the pod watch: only those with an emptyDir, found by key and by UID."""

from __future__ import annotations

from podpilot.emptydir.controller.watched_pods import AuditedPods, audited_pod

from ..helpers import pod


def test_only_pods_with_an_emptydir_are_kept() -> None:
    assert audited_pod(pod(volumes=[{"name": "cache", "configMap": {"name": "c"}}])) is None
    kept = audited_pod(pod())
    assert kept is not None and kept["metadata"]["uid"] == "uid-p"


def test_a_pod_is_found_by_uid_until_it_is_removed_or_replaced() -> None:
    pods = AuditedPods()
    first = audited_pod(pod(uid="uid-1"))
    again = audited_pod(pod(uid="uid-2"))  # deleted and created again under the same name
    assert first is not None and again is not None
    pods.put(("ns", "p"), first)
    assert pods.by_uid("uid-1") is first and pods.all() == [first]
    pods.put(("ns", "p"), again)
    assert pods.by_uid("uid-1") is None and pods.by_uid("uid-2") is again
    pods.remove(("ns", "p"))
    assert pods.by_uid("uid-2") is None and pods.all() == [] and len(pods) == 0
    pods.remove(("ns", "p"))  # a deletion seen twice changes nothing
