"""Writes the reports through ``podpilot.kube``, off the event loop.

It remembers what it last wrote, so unchanged reports cost no API call. That memory is seeded
once at startup from the reports already in the cluster (one LIST), which also tells the
reconciler which findings were active before a restart, so a restart emits no Events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Set
from datetime import datetime
from typing import Any

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

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
from podpilot.flannel.engine.transitions import Active, FindingKey
from podpilot.kube.clients import ApiClients
from podpilot.kube.custom_objects import PodpilotObjects

log = logging.getLogger(__name__)
NODE_KIND = "FlannelSubnetReport"
NETWORK_KIND = "FlannelNetworkReport"
WRITE_CONCURRENCY = 8


class ReportPublisher:
    def __init__(
        self,
        clients: ApiClients,
        network_report_name: str,
        recorder: Recorder,
        custom: CustomObjectsApi | None = None,
    ) -> None:
        self._recorder = recorder
        self.network_report_name = network_report_name
        self._nodes = PodpilotObjects(clients, NODE_PLURAL, namespaced=False, api=custom)
        self._networks = PodpilotObjects(clients, NETWORK_PLURAL, namespaced=False, api=custom)
        self._written: dict[str, dict[str, Any]] = {}  # node report name → status content
        self._network: dict[str, Any] | None = None
        self._network_exists = False
        self.network_uid: str | None = None

    async def seed(self) -> dict[FindingKey, Active]:
        """Learn the reports that already exist; return the findings they list as active."""
        active: dict[FindingKey, Active] = {}
        for item in await self._nodes.list():
            name = item["metadata"]["name"]
            status = without_observed_at(item.get("status")) or {}
            self._written[name] = status
            _collect(active, status.get("findings"), default_node=name)
        try:
            cluster = await self._networks.get(self.network_report_name)
        except ApiException as error:
            if error.status != 404:
                raise
        else:
            self._network_exists = True
            self.network_uid = (cluster.get("metadata") or {}).get("uid")
            self._network = without_observed_at(cluster.get("status"))
            _collect(active, (self._network or {}).get("findings"), default_node=None)
        return active

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
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        jobs: list[Callable[[], Awaitable[None]]] = []
        for name, status in desired.nodes.items():
            if self._written.get(name) != status:
                jobs.append(_bind(self._write_node, name, status, node_uids.get(name), stamp))
        for name in set(self._written) - desired.nodes.keys() - all_nodes:
            jobs.append(_bind(self._delete_node, name))
        await _bounded(jobs, WRITE_CONCURRENCY)
        if self._network != desired.network or not self._network_exists:
            await self._write_network(desired.network, stamp)

    async def _write_node(
        self, name: str, status: dict[str, Any], node_uid: str | None, stamp: str
    ) -> None:
        if name not in self._written:
            await self._create(self._nodes, NODE_KIND, node_report_body(name, node_uid))
        patch = merge_patch(self._written.get(name), status)
        try:
            await self._patch_status(self._nodes, NODE_KIND, name, {**patch, "observedAt": stamp})
        except ApiException as error:
            if error.status != 404:
                raise
            # Deleted behind our back (by hand, or by the garbage collector with its node).
            await self._create(self._nodes, NODE_KIND, node_report_body(name, node_uid))
            await self._patch_status(self._nodes, NODE_KIND, name, {**status, "observedAt": stamp})
        self._written[name] = status

    async def _delete_node(self, name: str) -> None:
        if await self._nodes.delete(name):  # False: it was already gone
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
            created = await reports.create(body)
        except ApiException as error:
            if error.status != 409:
                raise
            return None
        self._recorder.report_written(kind, "create")
        return created or None

    async def _patch_status(
        self, reports: PodpilotObjects, kind: str, name: str, status_patch: dict[str, Any]
    ) -> None:
        await reports.merge_patch_status(name, status_patch)
        self._recorder.report_written(kind, "patch-status")


def _collect(active: dict[FindingKey, Active], findings: Any, default_node: str | None) -> None:
    for entry in findings or []:
        try:
            severity = Severity[str(entry["severity"]).upper()]
            key = (str(entry["id"]), entry.get("node", default_node))
            previous = active.get(key)
            if previous is None or severity > previous.severity:
                active[key] = Active(str(entry["name"]), severity, str(entry["message"]))
        except (KeyError, TypeError):
            continue


def _bind(function: Callable[..., Awaitable[None]], *args: Any) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await function(*args)

    return run


async def _bounded(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)
    failures: list[BaseException] = []

    async def guarded(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            try:
                await job()
            except ApiException as error:
                failures.append(error)

    # Every job ends before an error is raised: a write left running would race the retry.
    ended = await asyncio.gather(*(guarded(job) for job in jobs), return_exceptions=True)
    failures += [outcome for outcome in ended if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
