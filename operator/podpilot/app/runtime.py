"""What every handler shares for the life of the process: settings, API clients, and the
running parts of each enabled controller, each under its own typed field."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, fields
from typing import TypeVar
from wsgiref.simple_server import WSGIServer

from podpilot.apimachinery.leader_election import STANDALONE_TERM, Term
from podpilot.app.hooks import NO_HOOKS, ProcessHooks
from podpilot.autoscaler.api.watched import WatchedAutoscaler
from podpilot.autoscaler.controller.autoscalers import AutoscalerLoops
from podpilot.autoscaler.controller.loop import Controller
from podpilot.autoscaler.controller.object_watches import ObjectWatches
from podpilot.autoscaler.controller.runner import Runner
from podpilot.emptydir.controller.loop import EmptyDirController
from podpilot.emptydir.controller.poller import Fetchers
from podpilot.emptydir.controller.watched_pods import AuditedPods
from podpilot.emptydir.engine.eviction_log import EvictionLog
from podpilot.flannel.controller.reconciler import FlannelReconciler
from podpilot.flannel.controller.watched_pods import PodsByNode
from podpilot.kube.clients import ApiClients
from podpilot.kube.lease import LeaderElector
from podpilot.kube.list_watch import ListWatch
from podpilot.kube.pod_watch import PodWatch
from podpilot.kube.shards import Shards
from podpilot.settings import OperatorSettings

Part = TypeVar("Part")


def _started(part: Part | None, error: str) -> Part:
    """``part``, or a ``RuntimeError`` saying it was used too early."""
    if part is None:
        raise RuntimeError(error)
    return part


@dataclass
class AutoscalerParts:
    controller: Controller
    watches: ObjectWatches
    loops: AutoscalerLoops
    runner: Runner
    autoscaler_watches: list[ListWatch[WatchedAutoscaler]]
    # Forgets the series of Autoscalers this replica no longer acts for (exposure.py).
    series_sweep: asyncio.Task[None]


@dataclass
class EmptyDirParts:
    evictions: EvictionLog
    pods: AuditedPods
    # The UIDs of evicted pods already counted, kept across leadership terms.
    evicted: set[str] = field(default_factory=set)
    # Built by the policy daemon on its first cycle: no EmptyDirAuditPolicy, nothing polled.
    controller: EmptyDirController | None = None
    fetchers: Fetchers | None = None


@dataclass
class FlannelParts:
    reconciler: FlannelReconciler
    task: asyncio.Task[None]
    pods: PodsByNode


@dataclass
class Runtime:
    """Kept in kopf's memo as ``memo.runtime``; filled in by the startup handler."""

    settings: OperatorSettings
    # Set by a test build of the process only (app/hooks.py).
    hooks: ProcessHooks = NO_HOOKS
    clients: ApiClients | None = None
    metrics_server: WSGIServer | None = None
    # The one watch of Pods: each enabled controller subscribes at its start.
    pods: PodWatch | None = None
    autoscaler: AutoscalerParts | None = None
    emptydir: EmptyDirParts | None = None
    flannel: FlannelParts | None = None
    # None when leader election is off (--standalone): this replica is the only writer.
    leader: LeaderElector | None = None
    leader_task: asyncio.Task[None] | None = None
    # With --shards N above 1: the Autoscalers' shards (the other controllers keep the leader).
    shards: Shards | None = None
    shards_task: asyncio.Task[None] | None = None

    def forget_started_parts(self) -> None:
        """Back to the runtime before any start (once its parts were stopped): kopf calls a
        start that failed again, and the next attempt must begin from nothing."""
        for part in fields(self):
            if part.name not in ("settings", "hooks"):
                setattr(self, part.name, part.default)

    def may_act(self) -> bool:
        """Whether this replica may write now: every controller asks before it acts."""
        return self.leader is None or self.leader.is_leader()

    def leader_term(self) -> Term | None:
        """The term of the leader Lease this replica holds now (the one term of a replica
        without leader election); None while it does not lead. The reporters' writes are
        bound to it."""
        return STANDALONE_TERM if self.leader is None else self.leader.term()

    def may_act_for(self, namespace: str, name: str) -> bool:
        """Whether this replica may act for the Autoscaler ``namespace/name``: it holds the
        Autoscaler's shard, or without shards, the leader Lease."""
        return self.term_for(namespace, name) is not None

    def term_for(self, namespace: str, name: str) -> Term | None:
        """The term of the Lease that lets this replica act for the Autoscaler (its shard's,
        or the leader's); None when it may not act for it."""
        if self.shards is not None:
            return self.shards.term_for(namespace, name)
        if self.leader is not None:
            return self.leader.term()
        return STANDALONE_TERM

    def acted_for(self) -> frozenset[int]:
        """The shards this replica acts for now; without shards, every Autoscaler is in
        shard 0 (``shard_of``)."""
        if self.shards is None:
            return frozenset({0}) if self.may_act() else frozenset()
        return self.shards.acted_for()

    def shard_of(self, namespace: str, name: str) -> int:
        return 0 if self.shards is None else self.shards.shard_of(namespace, name)

    def api(self) -> ApiClients:
        return _started(self.clients, "API clients are used before the operator's startup finished")

    def pod_watch(self) -> PodWatch:
        return _started(self.pods, "the pod watch is used before the operator's startup finished")

    def autoscaler_parts(self) -> AutoscalerParts:
        return _started(self.autoscaler, "the Autoscaler controller is used before its start")

    def emptydir_parts(self) -> EmptyDirParts:
        return _started(self.emptydir, "the emptyDir audit is used before its start")

    def flannel_parts(self) -> FlannelParts:
        return _started(self.flannel, "the flannel reporter is used before its start")
