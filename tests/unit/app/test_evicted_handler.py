"""The Evicted Event handler: a notice with a copy of the pod from the pod watch, in the
shared log."""

import asyncio
from types import SimpleNamespace
from typing import Any

import kubernetes
from tests.unit.emptydir.helpers import pod

from podpilot.app.emptydir import EVICTED_EVENTS, emptydir_evicted, start
from podpilot.app.runtime import Runtime
from podpilot.emptydir.controller.watched_pods import audited_pod
from podpilot.emptydir.engine.eviction_log import EvictionLog
from podpilot.emptydir.engine.objects import slim_pod
from podpilot.kube.pod_watch import PodWatch
from podpilot.settings import OperatorSettings

MESSAGE = 'Usage of EmptyDir volume "scratch" exceeds the limit "4Mi". '


def evicted_event(uid: str) -> dict[str, Any]:
    return {
        "reason": "Evicted",
        "message": MESSAGE,
        "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p", "uid": uid},
        "lastTimestamp": "2099-01-01T00:00:00Z",  # "now" for the log: never expired here
    }


def handle(runtime: Runtime, body: dict[str, Any], kind: str | None) -> None:
    memo = SimpleNamespace(runtime=runtime)
    asyncio.run(emptydir_evicted(type=kind, body=body, memo=memo))  # type: ignore[arg-type]


def test_the_notice_keeps_a_copy_of_the_watched_pod() -> None:
    runtime = Runtime(OperatorSettings())
    # Never started: the test puts the pod in the audit's sink itself.
    runtime.pods = PodWatch(SimpleNamespace(kubernetes=kubernetes.client.ApiClient()), ())  # type: ignore[arg-type]
    asyncio.run(start(runtime))
    assert runtime.pods.subscribers == ["the emptyDir audit"]
    watched = audited_pod(pod())
    assert watched is not None
    runtime.emptydir_parts().pods.put(("ns", "p"), watched)
    handle(runtime, evicted_event("uid-p"), "ADDED")
    handle(runtime, evicted_event("uid-other"), None)
    handle(runtime, evicted_event("uid-deleted"), "DELETED")
    copy = slim_pod(pod())

    log = runtime.emptydir_parts().evictions
    assert isinstance(log, EvictionLog)
    assert {n.pod.uid: n.snapshot for n in log._notices.values()} == {
        "uid-p": copy,
        "uid-other": None,
    }


def test_the_watch_is_filtered_to_evictions_of_pods() -> None:
    assert EVICTED_EVENTS == "reason=Evicted,involvedObject.kind=Pod"
