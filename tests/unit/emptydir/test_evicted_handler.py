"""The Evicted Event handler: a notice with a copy of the pod from the index, in the shared log."""

import asyncio
from types import SimpleNamespace
from typing import Any

from podpilot.app.emptydir import EVICTED_EVENTS, emptydir_evicted, start
from podpilot.app.runtime import Runtime
from podpilot.emptydir.engine.eviction_log import EvictionLog
from podpilot.emptydir.engine.objects import slim_pod
from podpilot.settings import OperatorSettings

from .helpers import pod

MESSAGE = 'Usage of EmptyDir volume "scratch" exceeds the limit "4Mi". '


def evicted_event(uid: str) -> dict[str, Any]:
    return {
        "reason": "Evicted",
        "message": MESSAGE,
        "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p", "uid": uid},
        "lastTimestamp": "2099-01-01T00:00:00Z",  # "now" for the log: never expired here
    }


def handle(runtime: Runtime, body: dict[str, Any], kind: str | None, index: Any) -> None:
    memo = SimpleNamespace(runtime=runtime)
    asyncio.run(emptydir_evicted(type=kind, body=body, memo=memo, emptydir_pods=index))  # type: ignore[arg-type]


def test_the_notice_keeps_a_copy_of_the_indexed_pod() -> None:
    runtime = Runtime(OperatorSettings())
    asyncio.run(start(runtime))
    copy = slim_pod(pod())
    handle(runtime, evicted_event("uid-p"), "ADDED", {"uid-p": [copy]})
    handle(runtime, evicted_event("uid-other"), None, {})
    handle(runtime, evicted_event("uid-deleted"), "DELETED", {})

    log = runtime.emptydir_parts().evictions
    assert isinstance(log, EvictionLog)
    assert {n.pod.uid: n.snapshot for n in log._notices.values()} == {
        "uid-p": copy,
        "uid-other": None,
    }


def test_the_watch_is_filtered_to_evictions_of_pods() -> None:
    assert EVICTED_EVENTS == "reason=Evicted,involvedObject.kind=Pod"
