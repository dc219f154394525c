"""Evictions of pods that are already gone, remembered from the kubelet's ``Evicted`` Events.

An evicted pod normally stays in the API (phase ``Failed``, reason ``Evicted``) and is audited
from its own status. When it is deleted right after (a person, a rollout, the pod GC), only the
Event is left, and the Event names the pod, not its workload or volumes. So each notice keeps a
copy of the pod as it was last seen (the slim copy of the controller's model), taken when the
Event arrives or when the pod is seen later in the model, and the pod is audited from that copy
once it is gone.

The two paths never count the same eviction twice: a pod still in the model is audited from its
own status only, and a notice speaks only for a pod that is gone (one notice per pod UID).
Memory is bounded: notices expire ``ttl`` after the eviction (an hour, the API server's default
Event TTL), notices that never found their pod expire after ``unattached_ttl``, and at most
``max_entries`` are kept (the oldest go first).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from podpilot.apimachinery.timestamps import parse_datetime
from podpilot.emptydir.engine.evictions import parse_eviction_message
from podpilot.emptydir.engine.model import Finding, PodRef

TRACED_FINDINGS = frozenset({"ED020", "ED021", "ED022", "ED023", "ED024"})
"""What an audit of a gone pod keeps: evictions and OOM kills, not spec or usage findings."""

TRACED_FROM_EVENT = ("tracedFrom", "EvictedEvent")
"""Evidence added to findings of a gone pod, so a report says where they came from."""


@dataclass(frozen=True)
class EvictionNotice:
    """One ``Evicted`` Event about a pod.

    Attributes:
        pod: The evicted pod (``involvedObject``).
        message: The kubelet's message, one of the formats in :mod:`.evictions`.
        at: When the kubelet evicted it (the Event's time).
        snapshot: The pod as last seen in the model, or ``None`` until it is found.
    """

    pod: PodRef
    message: str
    at: datetime
    snapshot: Mapping[str, Any] | None = None


def notice_from_event(event: Mapping[str, Any], received: datetime) -> EvictionNotice | None:
    """Read an ``Evicted`` Event (core/v1 or events.k8s.io/v1 shape).

    Args:
        event: The Event object.
        received: When it was received; its time if the Event carries none.

    Returns:
        The notice, or ``None`` for Events that are not kubelet evictions of a known pod UID.
    """
    if event.get("reason") != "Evicted":
        return None
    regarding = event.get("involvedObject") or event.get("regarding")
    if not isinstance(regarding, Mapping) or regarding.get("kind") != "Pod":
        return None
    uid = regarding.get("uid")
    message = str(event.get("message") or event.get("note") or "")
    if not isinstance(uid, str) or not uid or parse_eviction_message(message) is None:
        return None
    pod = PodRef(str(regarding.get("namespace") or ""), str(regarding.get("name") or ""), uid)
    return EvictionNotice(pod, message, _event_time(event) or received)


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    series = event.get("series")
    metadata = event.get("metadata")
    candidates = (
        event.get("lastTimestamp"),
        series.get("lastObservedTime") if isinstance(series, Mapping) else None,
        event.get("eventTime"),
        event.get("firstTimestamp"),
        metadata.get("creationTimestamp") if isinstance(metadata, Mapping) else None,
    )
    for value in candidates:
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    return None


class EvictionLog:
    """Recent eviction notices by pod UID, bounded in age and number."""

    def __init__(
        self,
        ttl: timedelta = timedelta(hours=1),
        unattached_ttl: timedelta = timedelta(minutes=5),
        max_entries: int = 1000,
    ) -> None:
        self.ttl = ttl
        self.unattached_ttl = unattached_ttl
        self.max_entries = max_entries
        self._notices: dict[str, EvictionNotice] = {}

    def __len__(self) -> int:
        return len(self._notices)

    def record(self, notice: EvictionNotice, now: datetime) -> None:
        """Keep a notice; the first per pod UID wins, but a later one may bring the snapshot.

        Args:
            notice: The notice (an Event re-listed after a reconnect is the same notice).
            now: Current time.
        """
        if now - notice.at > self.ttl:
            return
        uid = notice.pod.uid
        known = self._notices.get(uid)
        if known is not None:
            if known.snapshot is None and notice.snapshot is not None:
                self._notices[uid] = replace(known, snapshot=notice.snapshot)
            return
        self._notices[uid] = notice
        while len(self._notices) > self.max_entries:
            oldest = min(self._notices.values(), key=lambda n: (n.at, n.pod.uid))
            del self._notices[oldest.pod.uid]

    def attach(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """Give notices that lack one the copy of their pod, from pods seen in the model.

        Args:
            pods: Slim pods (current, or from the previous cycle for pods that just left).
        """
        waiting = {uid for uid, n in self._notices.items() if n.snapshot is None}
        if not waiting:
            return
        for pod in pods:
            uid = (pod.get("metadata") or {}).get("uid")
            if uid in waiting:
                self._notices[uid] = replace(self._notices[uid], snapshot=pod)
                waiting.discard(uid)

    def current(self, now: datetime) -> tuple[EvictionNotice, ...]:
        """Drop expired notices and return the rest, oldest first.

        Args:
            now: Current time.

        Returns:
            The notices still kept.
        """
        for uid, notice in list(self._notices.items()):
            limit = self.ttl if notice.snapshot is not None else self.unattached_ttl
            if now - notice.at > limit:
                del self._notices[uid]
        return tuple(sorted(self._notices.values(), key=lambda n: (n.at, n.pod.uid)))


def gone_pods(notices: Iterable[EvictionNotice], present: Iterable[str]) -> list[Mapping[str, Any]]:
    """Pods to audit for evictions whose pod has left the model.

    Each is the pod's last copy with the eviction written into its status, so the ordinary
    audit traces it to a volume and a workload. Pods still present, and notices without a copy
    (a pod without emptyDirs, or one deleted before the operator ever saw it), give nothing.

    Args:
        notices: Current notices.
        present: UIDs of the pods in the model now.

    Returns:
        Pods in API shape, at most one per UID.
    """
    here = set(present)
    gone: list[Mapping[str, Any]] = []
    for notice in notices:
        if notice.snapshot is None or notice.pod.uid in here:
            continue
        here.add(notice.pod.uid)
        status = dict(notice.snapshot.get("status") or {})
        status.update(phase="Failed", reason="Evicted", message=notice.message)
        gone.append({**notice.snapshot, "status": status})
    return gone


def traced_only(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings of a gone pod worth keeping, marked as traced from its Event.

    Args:
        findings: The audit's findings for the pod's last copy.

    Returns:
        Evictions and OOM kills only, each with ``tracedFrom: EvictedEvent`` in its evidence.
    """
    return tuple(
        replace(f, evidence=tuple(sorted((*f.evidence, TRACED_FROM_EVENT))))
        for f in findings
        if f.id in TRACED_FINDINGS
    )
