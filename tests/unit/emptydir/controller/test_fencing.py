"""The emptyDir audit writes only within its term of the leader Lease: once the Lease is lost,
no report apply, report delete, policy status patch or Event of the cycle goes out."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import cast

import pytest
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.emptydir.api.policy import parse_policy
from podpilot.emptydir.controller import loop
from podpilot.emptydir.controller.loop import EmptyDirController
from podpilot.emptydir.controller.poller import Fetchers
from podpilot.emptydir.controller.publisher import ReportPublisher
from podpilot.emptydir.controller.recorder import AuditRecorder
from podpilot.emptydir.engine.model import Finding
from podpilot.emptydir.engine.objects import NodeInfo, node_info
from podpilot.kube.clients import ApiClients
from podpilot.kube.fencing import MayWrite, send_if_allowed

from ..helpers import pod

NODE = node_info(
    {
        "metadata": {"name": "node-a"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "allocatable": {"memory": "8Gi"},
        },
    }
)
# A memory-backed emptyDir without a limit: a report for the pod and a finding to announce.
PODS = [pod("p", volumes=[{"name": "m", "emptyDir": {"medium": "Memory"}}])]
ORPHAN = {
    "metadata": {"namespace": "ns", "name": "deployment-gone"},
    "status": {"conditions": []},
}
WRITES = {
    "patch_namespaced_custom_object",
    "patch_namespaced_custom_object_status",
    "delete_namespaced_custom_object",
    "PATCH",  # the policy status, a merge patch sent as an encoded request
}


@pytest.fixture(autouse=True)
def api() -> Iterator[FakeCustomObjectsApi]:
    """The fake API the controller's publishers write to, never a server."""
    fake = FakeCustomObjectsApi(answers={"list_cluster_custom_object": {"items": [ORPHAN]}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "ReportPublisher", partial(ReportPublisher, custom=fake))
        yield fake


class NoMetrics:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args: None


class Cluster:
    """The API as the controller sees it: one report to delete, every write recorded, and a
    leader Lease that ``lose`` takes away."""

    def __init__(self, api: FakeCustomObjectsApi) -> None:
        self.api = api
        self.events: list[str] = []
        self.leading = True

    def lose(self) -> None:
        self.leading = False

    def may_write(self) -> bool:
        return self.leading

    def writes(self) -> list[str]:
        return [method for method, _, _ in self.api.calls if method in WRITES] + self.events

    def lost_once_written(self) -> bool:
        """The Lease is lost right after the first write that goes out."""
        if self.writes():
            self.lose()
        return self.leading

    async def announce(self, findings: Sequence[Finding], may_write: MayWrite) -> None:
        """Each Event asks ``may_write`` right before it goes out, as ``EventPoster`` does."""
        for finding in findings:
            send_if_allowed(may_write, lambda f=finding: self.events.append(f"Event {f.name}"))

    def controller(self, on_poll: Callable[[], None] = lambda: None) -> EmptyDirController:
        async def fetch(node: NodeInfo) -> bytes:
            on_poll()
            return json.dumps({"node": {"nodeName": "node-a"}, "pods": []}).encode()

        return EmptyDirController(
            api=cast(ApiClients, FakeClients(recording=self.api)),
            fetchers=Fetchers(fetch, fetch),
            metrics=cast(AuditRecorder, NoMetrics()),
            announce=self.announce,
            may_write=self.may_write,
        )


def step(controller: EmptyDirController) -> None:
    asyncio.run(
        controller.step(
            parse_policy({}),
            PODS,
            {"node-a": NODE},
            {},
            policy_name="default",
            generation=1,
        )
    )


def test_a_leader_writes_its_reports_deletes_the_orphan_patches_the_status_and_announces(
    api: FakeCustomObjectsApi,
) -> None:
    cluster = Cluster(api)
    step(cluster.controller())
    assert {method for method, _, _ in cluster.api.calls if method in WRITES} == WRITES
    assert cluster.events


def test_a_lease_lost_while_polling_stops_the_cycle_before_any_write(
    api: FakeCustomObjectsApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Polling many unanswering kubelets can outlast the term: nothing of it is written."""
    cluster = Cluster(api)
    with caplog.at_level(logging.WARNING):
        step(cluster.controller(on_poll=cluster.lose))
    assert cluster.writes() == []
    assert caplog.records == []  # not a failure: another replica leads now


def test_a_lease_lost_after_the_first_write_lets_nothing_more_out(
    api: FakeCustomObjectsApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = Cluster(api)
    controller = cluster.controller()
    controller.may_write = cluster.lost_once_written
    with caplog.at_level(logging.WARNING):
        step(controller)
    assert len(cluster.writes()) == 1  # the write that went out while leading, and no other
    assert cluster.events == []
    assert caplog.records == []
