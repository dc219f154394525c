"""The debounced loop: snapshot the indices, compute the report, publish it, announce changes.

kopf's handlers and the pod watch's sink only mark the inputs dirty. One task recomputes at
most once per debounce window, and at least once per resync interval, because grace periods
(FL001, FL006) expire without any watch event.

It writes within one term of the leader Lease: every report write and Event asks, right before
it goes out, whether the term in which its publisher was made still holds. A refusal ends the
recompute quietly; a new term starts from a new publisher, seeded from the cluster's reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from podpilot.apimachinery.events import EventSpec
from podpilot.apimachinery.leader_election import STANDALONE_TERM, Term
from podpilot.apimachinery.selectors import Selector
from podpilot.flannel.api.events import cleared_event, involved_for, raised_event
from podpilot.flannel.api.reports import desired_reports
from podpilot.flannel.controller.publisher import ReportPublisher
from podpilot.flannel.controller.recorder import Recorder
from podpilot.flannel.engine.model_cache import ConfigMapRef, Index, Snapshot, snapshot
from podpilot.flannel.engine.node_checks import Thresholds
from podpilot.flannel.engine.report import NetworkReport, ReporterOptions, build_report
from podpilot.flannel.engine.selectors import parse_equality_selector
from podpilot.flannel.engine.transitions import Active, FindingKey, adopting, diff, without_nodes
from podpilot.kube.clients import ApiClients
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import WriteNotAllowedError
from podpilot.settings import FlannelSettings

log = logging.getLogger(__name__)
EVENTS_PER_RECOMPUTE = 100
RETRY_DELAY = 10.0
STANDBY_POLL_SECONDS = 1.0


@dataclass
class Indices:
    """The live indices: kopf's (node name → slim node, ConfigMaps) and the pod watch's (node
    name → slim pods)."""

    nodes: Index
    pods: Index
    config_maps: Index


class FlannelReconciler:
    def __init__(
        self,
        settings: FlannelSettings,
        clients: Callable[[], ApiClients],
        *,
        recorder: Recorder,
        leader_term: Callable[[], Term | None] = lambda: STANDALONE_TERM,
    ) -> None:
        """``leader_term``: the term of the leader Lease this replica holds now, None while it
        does not lead."""
        self.settings = settings
        self.config_map = ConfigMapRef(
            settings.configmap_namespaces, settings.configmap_name, settings.configmap_key
        )
        self.node_selector: Selector = parse_equality_selector(settings.node_selector)
        self.pod_selector: Selector = parse_equality_selector(settings.pod_selector)
        self.options = ReporterOptions(
            annotation_prefix=settings.annotation_prefix,
            thresholds=Thresholds(
                pod_cidr_grace=timedelta(seconds=settings.pod_cidr_grace),
                announce_grace=timedelta(seconds=settings.announce_grace),
            ),
        )
        self._clients = clients
        self._indices: Indices | None = None
        self._dirty = asyncio.Event()
        self._publisher: ReportPublisher | None = None
        self._events: EventPoster | None = None
        self._active: dict[FindingKey, Active] | None = None
        self._adopt_unlisted_cluster_findings = False
        self._recorder = recorder
        self._leader_term = leader_term
        self._seen: dict[Hashable, int] = {}

    def differs(self, key: Hashable, slim: object | None) -> bool:
        """Whether a kopf event changed what the reporter keeps of an object (None: it is gone).

        Node heartbeats rewrite Nodes without changing their slim copy; such events must not
        start a recompute (with 5,000 nodes heartbeating every few minutes, every debounce
        window would otherwise recompute everything). Pods need no digest here: ``PodsByNode``
        compares each pod's new slim copy with the one it keeps.
        """
        digest = None if slim is None else hash(repr(slim))
        if self._seen.get(key) == digest:
            return False
        if digest is None:
            self._seen.pop(key, None)
        else:
            self._seen[key] = digest
        return True

    def changed(self, indices: Indices) -> None:
        """Called by every event of kopf's watches; kopf calls handlers only once its indices
        are full."""
        self._indices = indices
        self._dirty.set()

    def pods_changed(self) -> None:
        """Called by the pod watch's sink: the pods are read through the indices kopf's
        events last gave (the same pod index, kept live)."""
        self._dirty.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.resync):
                    await self._dirty.wait()
            if self._indices is None:
                # No event of kopf's yet: its first one marks the inputs dirty again.
                self._dirty.clear()
                continue
            await asyncio.sleep(self.settings.debounce)
            if self._leader_term() is None:
                # Not the leader: nothing is written. Changes stay pending, and the publisher is
                # seeded again from the leader's reports once this replica leads.
                if self._publisher is not None:
                    self._recorder.forget_report()
                self._publisher = self._events = None
                await asyncio.sleep(STANDBY_POLL_SECONDS)
                continue
            self._dirty.clear()
            try:
                await self.reconcile(self._indices)
            except asyncio.CancelledError:
                raise
            except WriteNotAllowedError:
                # Fenced mid-write: the leader reports now; this replica does once it leads.
                log.debug("flannel report stopped: this replica no longer leads")
                self._dirty.set()
            except Exception:
                self._recorder.reconcile_failed()
                log.exception("flannel report failed; retrying in %.0fs", RETRY_DELAY)
                await asyncio.sleep(RETRY_DELAY)
                self._dirty.set()

    async def reconcile(self, indices: Indices) -> NetworkReport:
        whole = time.perf_counter()
        inputs = snapshot(
            indices.nodes,
            indices.pods,
            indices.config_maps,
            ref=self.config_map,
            node_selector=self.node_selector,
        )
        now = datetime.now(UTC)
        started = time.perf_counter()
        report = await asyncio.to_thread(self._compute, inputs, now)
        self._recorder.compute_took(time.perf_counter() - started)

        term = self._leader_term()
        if term is None:
            self._dirty.set()  # fenced while computing: the report is written once leading
            return report
        publisher, events = await self._ensure_publisher(term)
        desired = desired_reports(report, inputs.net_conf_source)
        node_uids = {
            n["metadata"]["name"]: n["metadata"]["uid"]
            for n in inputs.nodes
            if n["metadata"].get("uid")
        }
        all_nodes = {str(k) for k in indices.nodes}
        await publisher.publish(desired, node_uids, all_nodes, now)
        unselected = all_nodes - desired.nodes.keys()
        await self._announce(report, node_uids, unselected, publisher, events, now)
        self._recorder.record_report(report)
        self._recorder.reconcile_succeeded(time.time(), time.perf_counter() - whole)
        return report

    def _compute(self, inputs: Snapshot, now: datetime) -> NetworkReport:
        options = ReporterOptions(
            annotation_prefix=self.options.annotation_prefix,
            thresholds=self.options.thresholds,
            flannel_pod_nodes=inputs.flannel_pod_nodes,
        )
        return build_report(
            inputs.nodes, inputs.net_conf_text, inputs.pods, options=options, now=now
        )

    def _in_term(self, term: Term) -> bool:
        return self._leader_term() == term

    async def _ensure_publisher(self, term: Term) -> tuple[ReportPublisher, EventPoster]:
        """The publisher of this term, seeded from the cluster when the term is new."""
        publisher, events = self._publisher, self._events
        if publisher is None or events is None or not publisher.may_write():
            clients = self._clients()
            publisher = ReportPublisher(
                clients,
                self.settings.network_report_name,
                self._recorder,
                reread_every=self.settings.resync,
                may_write=partial(self._in_term, term),
            )
            self._active = await publisher.seed()
            # The cluster report lists 100 findings at most. Those it may have left out were
            # as likely announced (or suppressed) already, and a restart must not repeat them.
            self._adopt_unlisted_cluster_findings = True
            events = EventPoster(clients, record=self._recorder.events)
            self._publisher, self._events = publisher, events
        return publisher, events

    async def _announce(
        self,
        report: NetworkReport,
        node_uids: dict[str, str],
        unselected: set[str],
        publisher: ReportPublisher,
        poster: EventPoster,
        now: datetime,
    ) -> None:
        # The findings of existing nodes outside the node selector are not resolved: another
        # reporter may own them. Those of nodes that no longer exist are.
        before = without_nodes(self._active or {}, unselected)
        if self._adopt_unlisted_cluster_findings:
            left_out = publisher.may_have_left_out
            before = adopting(before, [f for f in report.cluster_findings if left_out(f.severity)])
            self._adopt_unlisted_cluster_findings = False
        change = diff(before, report.findings)
        report_ref = (publisher.network_report_name, publisher.network_uid)
        events: list[EventSpec] = [
            raised_event(f, involved_for(f.node, node_uids, report_ref)) for f in change.raised
        ]
        events += [
            cleared_event(key, old, involved_for(key.node, node_uids, report_ref))
            for key, old in change.cleared
        ]
        if len(events) > EVENTS_PER_RECOMPUTE:
            self._recorder.events("suppressed", len(events) - EVENTS_PER_RECOMPUTE)
            events = events[:EVENTS_PER_RECOMPUTE]
        await poster.post_all(events, now, may_write=publisher.may_write)
        self._active = change.current
