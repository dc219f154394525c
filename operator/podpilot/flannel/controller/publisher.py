"""Writes the reports through ``podpilot.kube``, off the event loop.

It remembers what it last wrote, so unchanged reports cost no API call. That memory is seeded
at startup from the reports already in the cluster (one LIST, one GET), which also tells the
reconciler which findings were active before a restart, so a restart emits no Events. It is
read back the same way once per ``reread_every`` seconds: a report deleted behind the
reporter's back (by hand, or with its CRD) is then written again although its content did not
change, and one edited by hand is corrected.

Each create, status patch and delete goes out only if ``may_write`` says yes, asked right before
it (``kube.fencing``); a refused one raises ``WriteNotAllowedError``, and so does ``publish``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Set
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from podpilot.apimachinery.timestamps import format_datetime
from podpilot.flannel.api.reports import (
    NETWORK_PLURAL,
    NODE_PLURAL,
    Desired,
    merge_patch,
    network_report_body,
    node_report_body,
    without_observed_at,
)
from podpilot.flannel.controller.recorder import Recorder
from podpilot.flannel.engine.findings import Severity
from podpilot.flannel.engine.transitions import Active, FindingKey, finding_key
from podpilot.kube.clients import ApiClients
from podpilot.kube.custom_objects import PodpilotObjects
from podpilot.kube.fencing import MayWrite, always, write_all

log = logging.getLogger(__name__)
NODE_KIND = "FlannelSubnetReport"
NETWORK_KIND = "FlannelNetworkReport"
WRITE_CONCURRENCY = 8


class WrittenNodeReport(NamedTuple):
    status: dict[str, Any]
    owner_uid: str | None  # the uid of the Node in its ownerReference


class ReportPublisher:
    def __init__(
        self,
        clients: ApiClients,
        network_report_name: str,
        recorder: Recorder,
        custom: CustomObjectsApi | None = None,
        *,
        reread_every: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
        may_write: MayWrite = always,
    ) -> None:
        self.may_write = may_write
        self._recorder = recorder
        self.network_report_name = network_report_name
        self._nodes = PodpilotObjects(clients, NODE_PLURAL, namespaced=False, api=custom)
        self._networks = PodpilotObjects(clients, NETWORK_PLURAL, namespaced=False, api=custom)
        self._written: dict[str, WrittenNodeReport] = {}  # by node report name
        self._network: dict[str, Any] | None = None
        self._network_exists = False
        self.network_uid: str | None = None
        # None when the cluster report read by seed() listed every finding; else the lowest
        # severity it listed and whether a node finding of that severity was listed.
        self._cluster_cut: tuple[Severity, bool] | None = None
        self._reread_every = reread_every
        self._clock = clock
        self._read_at: float | None = None
        self._just_seen: set[str] = set()

    async def seed(self) -> dict[FindingKey, Active]:
        """Learn the reports that already exist; return the findings they list as active."""
        active: dict[FindingKey, Active] = {}
        for item in await self._read_back():
            name = item["metadata"]["name"]
            _collect(active, self._written[name].status.get("findings"), default_node=name)
        network = self._network or {}
        _collect(active, network.get("findings"), default_node=None)
        self._cluster_cut = _cut(network) if network.get("findingsOmitted") else None
        return active

    def may_have_left_out(self, severity: Severity) -> bool:
        """Whether a cluster finding of ``severity`` could be among those the cluster report
        read at startup left out: it lists the findings worst first, cluster-level ones first
        within a severity, and omits the tail beyond its cap."""
        if self._cluster_cut is None:
            return False
        lowest_listed, node_finding_listed_at_lowest = self._cluster_cut
        return severity < lowest_listed or (
            severity == lowest_listed and not node_finding_listed_at_lowest
        )

    async def _read_back(self) -> list[dict[str, Any]]:
        """Replace what is remembered as written by what the cluster holds.

        Returns:
            The node reports listed.
        """
        items = await self._nodes.list()
        known_before = set(self._written)
        try:
            cluster: dict[str, Any] | None = await self._networks.get(self.network_report_name)
        except ApiException as error:
            if error.status != 404:
                raise
            cluster = None
        self._written = {
            item["metadata"]["name"]: WrittenNodeReport(
                without_observed_at(item.get("status")) or {}, _owner_uid(item)
            )
            for item in items
        }
        # Another reporter may have written a report for a node this one's watch has not shown
        # yet: a report first seen now is not deleted before the next read-back.
        self._just_seen = set() if self._read_at is None else set(self._written) - known_before
        self._network_exists = cluster is not None
        if cluster is not None:
            self.network_uid = (cluster.get("metadata") or {}).get("uid")
        self._network = without_observed_at(cluster.get("status")) if cluster else None
        self._read_at = self._clock()
        return items

    async def publish(
        self,
        desired: Desired,
        node_uids: Mapping[str, str],
        all_nodes: Set[str],
        now: datetime,
    ) -> None:
        """Create or patch the desired reports; delete those whose Node no longer exists.

        Reports of existing nodes outside the node selector are left alone: they may belong to
        another reporter.
        """
        if self._read_at is None:
            await self._read_back()
        elif self._clock() - self._read_at >= self._reread_every:
            try:
                await self._read_back()
            except ApiException as error:
                # What is remembered still holds; writes and Events go on, and the read is
                # tried again after another interval, not at every retry of a recompute.
                self._read_at = self._clock()
                log.warning(
                    "reading the flannel reports back failed (%s); next try in %.0fs",
                    error.status or error.reason,
                    self._reread_every,
                )
        stamp = format_datetime(now)
        jobs: list[Callable[[], Awaitable[None]]] = []
        for name, status in desired.nodes.items():
            written = self._written.get(name)
            node_uid = node_uids.get(name)
            if written is None or written.status != status or _replaced(written, node_uid):
                jobs.append(partial(self._write_node, name, status, node_uid, stamp))
        for name in set(self._written) - desired.nodes.keys() - all_nodes - self._just_seen:
            jobs.append(partial(self._delete_node, name))
        await write_all(jobs, WRITE_CONCURRENCY)
        if self._network != desired.network or not self._network_exists:
            await self._write_network(desired.network, stamp)

    async def _write_node(
        self, name: str, status: dict[str, Any], node_uid: str | None, stamp: str
    ) -> None:
        written = self._written.get(name)
        if written is not None and _replaced(written, node_uid):
            # The Node was deleted and registered again under the same name. The report is
            # still owned by the old Node, so the garbage collector deletes it: replace it.
            await self._delete_node(name)
            written = None
        if written is None:
            await self._create(self._nodes, NODE_KIND, node_report_body(name, node_uid))
        patch = merge_patch(written.status if written else None, status)
        try:
            await self._patch_status(self._nodes, NODE_KIND, name, {**patch, "observedAt": stamp})
        except ApiException as error:
            if error.status != 404:
                raise
            # Deleted behind our back (by hand, or by the garbage collector with its node).
            await self._create(self._nodes, NODE_KIND, node_report_body(name, node_uid))
            await self._patch_status(self._nodes, NODE_KIND, name, {**status, "observedAt": stamp})
        self._written[name] = WrittenNodeReport(status, node_uid)

    async def _delete_node(self, name: str) -> None:
        if await self._nodes.delete(name, may_write=self.may_write):  # False: already gone
            self._recorder.report_written(NODE_KIND, "delete")
        self._written.pop(name, None)

    async def _write_network(self, status: dict[str, Any], stamp: str) -> None:
        if not self._network_exists:
            created = await self._create(
                self._networks, NETWORK_KIND, network_report_body(self.network_report_name)
            )
            self.network_uid = created["metadata"].get("uid") if created else self.network_uid
            self._network_exists = True
        patch = merge_patch(self._network, status)
        try:
            await self._patch_status(
                self._networks,
                NETWORK_KIND,
                self.network_report_name,
                {**patch, "observedAt": stamp},
            )
        except ApiException as error:
            if error.status != 404:
                raise
            self._network_exists, self._network = False, None
            raise
        self._network = status

    async def _create(
        self, reports: PodpilotObjects, kind: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Create a report; None when it already exists (or the answer is empty)."""
        try:
            created = await reports.create(body, may_write=self.may_write)
        except ApiException as error:
            if error.status != 409:
                raise
            return None
        self._recorder.report_written(kind, "create")
        return created or None

    async def _patch_status(
        self, reports: PodpilotObjects, kind: str, name: str, status_patch: dict[str, Any]
    ) -> None:
        await reports.merge_patch_status(name, status_patch, may_write=self.may_write)
        self._recorder.report_written(kind, "patch-status")


def _cut(network: Mapping[str, Any]) -> tuple[Severity, bool]:
    """The lowest severity the capped cluster report lists, and whether a node finding of that
    severity is among them."""
    listed: list[tuple[Severity, bool]] = []
    for entry in network.get("findings") or []:
        try:
            listed.append((Severity[str(entry["severity"]).upper()], "node" in entry))
        except (KeyError, TypeError):
            continue
    if not listed:
        return Severity.CRITICAL, False  # nothing readable listed: anything may be left out
    lowest = min(severity for severity, _ in listed)
    return lowest, any(node for severity, node in listed if severity == lowest)


def _owner_uid(item: Mapping[str, Any]) -> str | None:
    for owner in (item.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("kind") == "Node" and owner.get("uid"):
            return str(owner["uid"])
    return None


def _replaced(written: WrittenNodeReport, node_uid: str | None) -> bool:
    """Whether the report is owned by another Node than the one now holding its name.

    A report owned by no Node is not at risk from the garbage collector, and is kept.
    """
    return None not in (written.owner_uid, node_uid) and written.owner_uid != node_uid


def _collect(active: dict[FindingKey, Active], findings: Any, default_node: str | None) -> None:
    for entry in findings or []:
        try:
            severity = Severity[str(entry["severity"]).upper()]
            evidence = entry.get("evidence")
            key = finding_key(
                str(entry["id"]),
                entry.get("node", default_node),
                evidence if isinstance(evidence, dict) else {},
            )
            previous = active.get(key)
            if previous is None or severity > previous.severity:
                active[key] = Active(str(entry["name"]), severity, str(entry["message"]))
        except (KeyError, TypeError):
            continue
