"""The flannel reporter writes only within its term of the leader Lease: once the Lease is lost,
no report create, status patch, delete or Event of the recompute goes out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any, cast

import pytest
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.apimachinery.events import EventSpec
from podpilot.apimachinery.leader_election import Term
from podpilot.flannel.api.status import finding_status
from podpilot.flannel.controller import reconciler as reconciler_module
from podpilot.flannel.controller.publisher import ReportPublisher
from podpilot.flannel.controller.reconciler import FlannelReconciler, Indices
from podpilot.flannel.controller.recorder import NullRecorder
from podpilot.flannel.engine.findings import finding
from podpilot.flannel.engine.model_cache import slim_node
from podpilot.kube.clients import ApiClients
from podpilot.kube.fencing import MayWrite, send_if_allowed
from podpilot.settings import FlannelSettings

from .._fixtures import healthy_nodes, upstream_net_conf

GONE = "deleted-while-down"
WRITES = {"create_cluster_custom_object", "delete_cluster_custom_object", "PATCH"}


def _gone_node_report() -> dict[str, Any]:
    """The report of a node that left the cluster, with a finding: deleted, and resolved by an
    Event."""
    unannounced = finding_status(
        finding("FL015", f"{GONE} has NetworkUnavailable=True.", node=GONE)
    )
    return {"metadata": {"name": GONE}, "status": {"findings": [unannounced]}}


def _indices() -> Indices:
    nodes = {n["metadata"]["name"]: [slim_node(n)] for n in healthy_nodes()}
    config_maps = {("kube-flannel", "kube-flannel-cfg"): [(upstream_net_conf(),)]}
    return Indices(nodes, {}, config_maps)


class Cluster:
    """The API and the leader Lease as the reporter sees them; every write recorded."""

    def __init__(self) -> None:
        self.api = FakeCustomObjectsApi(
            answers={
                "list_cluster_custom_object": {"items": [_gone_node_report()]},
                "get_cluster_custom_object": {"metadata": {"uid": "net"}, "status": {}},
            }
        )
        self.events: list[str] = []
        self.term: Term | None = (1, None)

    def writes(self) -> list[str]:
        return [method for method, _, _ in self.api.calls if method in WRITES] + self.events

    def leader_term(self) -> Term | None:
        return self.term

    def lost_once_written(self) -> Term | None:
        """The Lease is lost right after the first write that goes out."""
        if self.writes():
            self.term = None
        return self.term

    def poster(self, clients: object, *, record: object) -> Cluster:
        return self

    async def post_all(self, specs: list[EventSpec], now: datetime, *, may_write: MayWrite) -> None:
        """Each Event asks ``may_write`` right before it goes out, as ``EventPoster`` does."""
        for spec in specs:
            send_if_allowed(may_write, partial(self.events.append, f"Event {spec.reason}"))


class Failures(NullRecorder):
    def __init__(self) -> None:
        self.failed = 0

    def reconcile_failed(self) -> None:
        self.failed += 1


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """The reporter's publishers and Event poster write to this fake, never to a server."""
    fake = Cluster()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            reconciler_module, "ReportPublisher", partial(ReportPublisher, custom=fake.api)
        )
        patch.setattr(reconciler_module, "EventPoster", fake.poster)
        yield fake


def _reconciler(cluster: Cluster, recorder: NullRecorder | None = None) -> FlannelReconciler:
    clients = cast(ApiClients, FakeClients(recording=cluster.api))
    return FlannelReconciler(
        FlannelSettings(debounce=0.0),
        lambda: clients,
        recorder=recorder or NullRecorder(),
        leader_term=cluster.leader_term,
    )


def test_a_leader_creates_patches_deletes_and_announces(cluster: Cluster) -> None:
    asyncio.run(_reconciler(cluster).reconcile(_indices()))
    assert {method for method, _, _ in cluster.api.calls if method in WRITES} == WRITES
    assert cluster.events == ["Event FlannelFindingResolved"]


def test_a_lease_lost_after_the_first_write_lets_nothing_more_out_and_is_no_failure(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Failures()
    reconciler = _reconciler(cluster, recorder)
    reconciler._leader_term = cluster.lost_once_written

    async def run_briefly() -> None:
        reconciler.changed(_indices())
        task = asyncio.create_task(reconciler.run())
        await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING):
        asyncio.run(run_briefly())
    assert len(cluster.writes()) == 1  # the write that went out while leading, and no other
    assert cluster.events == []
    assert recorder.failed == 0
    assert caplog.records == []
    assert reconciler._dirty.is_set()  # written once this replica leads again


def test_a_new_term_starts_from_the_cluster_s_reports_not_from_the_old_term_s_memory(
    cluster: Cluster,
) -> None:
    """Lost and taken back between two recomputes: the other leader may have written."""
    reconciler = _reconciler(cluster)

    async def two_terms() -> None:
        await reconciler.reconcile(_indices())
        cluster.term = (2, None)
        await reconciler.reconcile(_indices())

    asyncio.run(two_terms())
    listed = [call for call in cluster.api.calls if call[0] == "list_cluster_custom_object"]
    assert len(listed) == 2
