"""The controller's state between cycles, and one cycle: poll due nodes, scan, publish.

A controller acts within one term of the leader Lease: every report write, report delete,
policy status patch and Event asks its ``may_write`` right before it goes out, and a cycle asks
again once its polls are done. A refusal ends the cycle quietly: nothing more is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from typing import Any

import kubernetes

from podpilot.emptydir.api.report_objects import (
    known_from_status,
    report_manifest,
    report_status_body,
    status_digest,
)
from podpilot.emptydir.controller.owners import OwnerResolver, owner_keys
from podpilot.emptydir.controller.poller import Fetchers, next_state, poll_due
from podpilot.emptydir.controller.publisher import ReportPublisher
from podpilot.emptydir.controller.recorder import AuditRecorder
from podpilot.emptydir.engine.audit_policy import AuditPolicy
from podpilot.emptydir.engine.eviction_log import EvictionLog, EvictionNotice
from podpilot.emptydir.engine.model import Finding
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.report import WorkloadReport, cluster_status, report_name
from podpilot.emptydir.engine.scan import ScanResult, Snapshot, run_scan, volumes_by_node
from podpilot.emptydir.engine.schedule import PollSchedule
from podpilot.emptydir.engine.series import gauge_values, new_evictions
from podpilot.emptydir.engine.summary import NodeStatsState
from podpilot.emptydir.engine.transitions import EventLedger
from podpilot.emptydir.engine.trend import SampleRing, VolumeKey, update_history
from podpilot.kube.clients import ApiClients
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError, always

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 300.0
"""An unchanged report is still rewritten this often, so its lastScanTime shows it is alive."""
WRITE_CONCURRENCY = 8
"""Report writes in flight at once (each is two applies: the object, then its status)."""

ReportKey = tuple[str, str]
Announce = Callable[[Sequence[Finding], MayWrite], Awaitable[None]]
"""Posts the Events announcing these findings, each only if ``may_write`` says yes right before
it; raises nothing but ``WriteNotAllowedError`` (an Event is auxiliary)."""


@dataclass
class Published:
    digest: bytes
    written_at: float
    conditions: Sequence[Mapping[str, Any]]


@dataclass
class EmptyDirController:
    """What survives from one cycle to the next (lost on restart, except what reports hold)."""

    api: ApiClients
    fetchers: Fetchers
    metrics: AuditRecorder
    announce: Announce
    may_write: MayWrite = always
    """Whether this controller's term of the leader Lease still holds."""
    stats: dict[str, NodeStatsState] = field(default_factory=dict)
    history: dict[str, dict[VolumeKey, SampleRing]] = field(default_factory=dict)
    schedule: PollSchedule = field(default_factory=PollSchedule)
    ledger: EventLedger = field(default_factory=EventLedger)
    owners: OwnerResolver = field(default_factory=OwnerResolver)
    published: dict[ReportKey, Published] = field(default_factory=dict)
    evicted: set[str] = field(default_factory=set)
    evictions: EvictionLog = field(default_factory=EvictionLog)
    """Fed by the ``Evicted`` Event handler; audited here once the pod has left the model."""
    last_pods: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """The previous cycle's pods by UID: a copy for an Event that arrives after its pod left."""
    namespaces: tuple[str, ...] = ()
    """``podpilot run --namespace`` patterns; reports elsewhere are left alone."""
    seeded: bool = False
    ready_since: tuple[str, str] | None = None

    async def cycle(
        self,
        policy: AuditPolicy,
        pods: Sequence[Mapping[str, Any]],
        nodes: Mapping[str, NodeInfo],
        namespace_labels: Mapping[str, Mapping[str, str]],
    ) -> ScanResult:
        """Poll the nodes that are due, audit every pod, and publish what changed."""
        cycle_started = time.monotonic()
        publisher = ReportPublisher(self.api, may_write=self.may_write)
        if not self.seeded:
            await self._seed(publisher)
        await self._poll(policy, pods, nodes)
        self._stop_if_fenced()  # polling many nodes may outlast the term
        now = datetime.now(UTC)
        notices = self._eviction_notices(pods, now)
        snapshots = [n.snapshot for n in notices if n.snapshot is not None]
        parents = await self.owners.resolve(self.api, owner_keys([*pods, *snapshots]))
        started = time.monotonic()
        snapshot = Snapshot(
            pods=pods,
            nodes=nodes,
            namespace_labels=namespace_labels,
            stats=dict(self.stats),
            history=dict(self.history),
            parents=parents,
            policy=policy,
            now=now,
            evictions=notices,
        )
        result = await asyncio.to_thread(run_scan, snapshot)
        self.metrics.observe_scan(time.monotonic() - started, len(result.audits))
        self._publish_metrics(policy, result)
        await self._publish_reports(publisher, result, snapshot.now)
        transitions = self.ledger.transitions(
            (f for a in result.audits for f in a.findings), time.monotonic()
        )
        self.metrics.observe_cycle(time.monotonic() - cycle_started)
        if transitions:
            await self.announce(transitions, self.may_write)
        return result

    async def step(
        self,
        policy: AuditPolicy,
        pods: Sequence[Mapping[str, Any]],
        nodes: Mapping[str, NodeInfo],
        namespace_labels: Mapping[str, Mapping[str, str]],
        *,
        policy_name: str,
        generation: int | None,
    ) -> None:
        """One cycle, then the policy status; an API failure is logged and retried next cycle,
        and a write refused by ``may_write`` ends the cycle without a word: another replica
        leads now."""
        try:
            result = await self.cycle(policy, pods, nodes, namespace_labels)
            status = self.policy_status(result, policy)
            if generation is not None:
                status["observedGeneration"] = generation
            publisher = ReportPublisher(self.api, may_write=self.may_write)
            await publisher.policy_status(policy_name, status)
        except kubernetes.client.exceptions.ApiException as error:
            logger.warning("emptyDir audit cycle failed: HTTP %s %s", error.status, error.reason)
        except WriteNotAllowedError:
            logger.debug("emptyDir audit cycle stopped: this replica no longer leads")

    def policy_status(self, result: ScanResult, policy: AuditPolicy) -> dict[str, Any]:
        """The cluster rollup and a Ready condition for the policy's status."""
        status = cluster_status(result.rollup)
        ready = "False" if policy.problems else "True"
        if self.ready_since is None or self.ready_since[0] != ready:
            self.ready_since = (ready, status["lastFullScan"])
        status["conditions"] = [
            {
                "type": "Ready",
                "status": ready,
                "reason": "InvalidSpec" if policy.problems else "Scanning",
                "message": "; ".join(policy.problems) or "The audit runs.",
                "lastTransitionTime": self.ready_since[1],
            }
        ]
        return status

    def _stop_if_fenced(self) -> None:
        if not self.may_write():
            raise WriteNotAllowedError

    def _eviction_notices(
        self, pods: Sequence[Mapping[str, Any]], now: datetime
    ) -> tuple[EvictionNotice, ...]:
        current = {str((p.get("metadata") or {}).get("uid")): p for p in pods}
        self.evictions.attach(pods)
        self.evictions.attach(p for uid, p in self.last_pods.items() if uid not in current)
        self.last_pods = current
        return self.evictions.current(now)

    async def _seed(self, publisher: ReportPublisher) -> None:
        for item in await publisher.list_reports():
            metadata = item.get("metadata") or {}
            status = item.get("status") or {}
            self.ledger.seed(known_from_status(status))
            key = (str(metadata.get("namespace")), str(metadata.get("name")))
            if self.namespaces and not any(fnmatch(key[0], p) for p in self.namespaces):
                continue  # not watched by this operator: neither ours to update nor to delete
            self.published[key] = Published(b"", 0.0, status.get("conditions") or [])
        self.seeded = True

    async def _poll(
        self,
        policy: AuditPolicy,
        pods: Sequence[Mapping[str, Any]],
        nodes: Mapping[str, NodeInfo],
    ) -> None:
        interval = policy.poll_interval.total_seconds()
        fetch = self.fetchers.of(policy.stats_source)
        results = await poll_due(fetch, nodes, self.schedule, interval, policy.max_concurrent)
        now = datetime.now(UTC)
        volumes = volumes_by_node(pods)
        for result in results:
            self.metrics.observe_poll(result.node, result.outcome, result.seconds, now.timestamp())
            self.stats[result.node] = next_state(self.stats.get(result.node), result, now)
            if result.summary is not None:
                self.history[result.node] = update_history(
                    self.history.get(result.node, {}),
                    result.summary,
                    volumes.get(result.node, set()),
                    policy.ring_size,
                )
        for gone in set(self.stats) - set(nodes):
            self.stats.pop(gone, None)
            self.history.pop(gone, None)
        self.metrics.forget_nodes(nodes)

    def _publish_metrics(self, policy: AuditPolicy, result: ScanResult) -> None:
        self.metrics.publish(gauge_values(result.audits, policy.pod_granularity))
        workloads = {
            (r.workload.namespace, r.workload.kind, r.workload.name) for r in result.reports
        }
        self.metrics.count_evictions(new_evictions(result.audits, self.evicted), workloads)
        self.evicted &= {a.pod.uid for a in result.audits}

    async def _publish_reports(
        self, publisher: ReportPublisher, result: ScanResult, now: datetime
    ) -> None:
        """Write changed reports and delete orphaned ones, ``WRITE_CONCURRENCY`` at a time."""
        gate = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def write(
            key: ReportKey, report: WorkloadReport, status: dict[str, Any], digest: bytes
        ) -> None:
            async with gate:
                try:
                    await publisher.apply(report_manifest(report), status)
                except kubernetes.client.exceptions.ApiException as error:
                    # e.g. the namespace is being deleted; retried next cycle.
                    logger.warning("cannot write EmptyDirReport %s/%s: %s", *key, error.status)
                    return
            self.published[key] = Published(digest, time.monotonic(), status["conditions"])

        async def delete(key: ReportKey) -> None:
            async with gate:
                try:
                    await publisher.delete(*key)
                except kubernetes.client.exceptions.ApiException as error:
                    logger.warning("cannot delete EmptyDirReport %s/%s: %s", *key, error.status)
                    return
            del self.published[key]

        current: set[ReportKey] = set()
        jobs = []
        for report in result.reports:
            key = (report.workload.namespace, report_name(report.workload))
            current.add(key)
            before = self.published.get(key)
            status = report_status_body(report, before.conditions if before else (), now)
            digest = status_digest(status)
            fresh = before is not None and time.monotonic() - before.written_at < REFRESH_SECONDS
            if before is not None and before.digest == digest and fresh:
                continue
            jobs.append(write(key, report, status, digest))
        jobs += [delete(key) for key in set(self.published) - current]
        # Every job ends before an error is raised: a write left running would race the retry.
        for outcome in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
