"""The reconciler with the real publisher, against a fake API: which transition Events a
recompute posts right after the reports were read (a start, a restart, a new leader)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from typing import Any, cast

import pytest
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.apimachinery.events import EventSpec
from podpilot.flannel.api.status import finding_status
from podpilot.flannel.controller import reconciler as reconciler_module
from podpilot.flannel.controller.publisher import ReportPublisher
from podpilot.flannel.controller.reconciler import FlannelReconciler, Indices
from podpilot.flannel.controller.recorder import NullRecorder
from podpilot.flannel.engine.findings import finding
from podpilot.flannel.engine.model_cache import slim_node, slim_pod
from podpilot.flannel.engine.selectors import parse_equality_selector
from podpilot.kube.clients import ApiClients
from podpilot.kube.fencing import MayWrite
from podpilot.settings import FlannelSettings

from .._fixtures import healthy_nodes, pod, upstream_net_conf

RESOLVED = "FlannelFindingResolved"


class PostedEvents:
    """Stands in for ``EventPoster``: keeps what would have been posted."""

    posted: list[EventSpec]

    def __init__(self, clients: object, *, record: object) -> None:
        PostedEvents.posted = []

    async def post_all(self, specs: list[EventSpec], now: datetime, *, may_write: MayWrite) -> None:
        PostedEvents.posted += specs


def _indices(labels: dict[str, dict[str, str]], pods: list[dict[str, Any]]) -> Indices:
    nodes: dict[str, list[dict[str, Any]]] = {}
    for node in healthy_nodes():
        name = node["metadata"]["name"]
        node["metadata"].update(uid=f"uid-{name}", labels=labels.get(name, {}))
        nodes[name] = [slim_node(node)]
    by_node: dict[str, list[dict[str, Any]]] = {}
    flannel = parse_equality_selector("app=flannel")
    for body in pods:
        by_node.setdefault(body["spec"]["nodeName"], []).append(slim_pod(body, flannel))
    config_maps = {("kube-flannel", "kube-flannel-cfg"): [(upstream_net_conf(),)]}
    return Indices(nodes, by_node, config_maps)


def _node_report(name: str, *findings: dict[str, Any]) -> dict[str, Any]:
    owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": f"uid-{name}"}
    return {
        "metadata": {"name": name, "ownerReferences": [owner]},
        "status": {"findings": list(findings)},
    }


def _recompute_after_start(
    monkeypatch: pytest.MonkeyPatch,
    settings: FlannelSettings,
    indices: Indices,
    node_reports: list[dict[str, Any]],
    network_status: dict[str, Any],
    recomputes: int = 1,
) -> tuple[list[EventSpec], FakeCustomObjectsApi]:
    """Recompute as a reporter that finds these reports in the cluster; the Events posted."""
    api = FakeCustomObjectsApi(
        answers={
            "list_cluster_custom_object": {"items": node_reports},
            "get_cluster_custom_object": {"metadata": {"uid": "net"}, "status": network_status},
        }
    )
    clients = cast(ApiClients, FakeClients(recording=api))
    monkeypatch.setattr(reconciler_module, "ReportPublisher", partial(ReportPublisher, custom=api))
    monkeypatch.setattr(reconciler_module, "EventPoster", PostedEvents)

    async def recompute() -> None:
        reconciler = FlannelReconciler(settings, lambda: clients, recorder=NullRecorder())
        for _ in range(recomputes):
            await reconciler.reconcile(indices)

    asyncio.run(recompute())
    return PostedEvents.posted, api


def _unannounced(node: str) -> dict[str, Any]:
    return finding_status(finding("FL015", f"{node} has NetworkUnavailable=True.", node=node))


def test_a_start_resolves_no_finding_of_a_node_another_reporter_selects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two reporters with disjoint node selectors: A's restart must not speak for B's nodes."""
    labels = {
        "control-plane": {"reporter": "b"},
        "worker-1": {"reporter": "a"},
        "worker-2": {"reporter": "a"},
    }
    posted, _ = _recompute_after_start(
        monkeypatch,
        FlannelSettings(node_selector="reporter=a", network_report_name="reporter-a"),
        _indices(labels, []),
        [
            _node_report("control-plane", _unannounced("control-plane")),  # B's
            _node_report("worker-1"),
            _node_report("worker-2"),
        ],
        {"findings": []},
    )
    assert [(e.reason, e.about.name) for e in posted] == []


def test_a_start_resolves_the_findings_of_a_node_that_left_the_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As when a node is deleted while the reporter runs."""
    posted, _ = _recompute_after_start(
        monkeypatch,
        FlannelSettings(),
        _indices({}, []),
        [_node_report("deleted-while-down", _unannounced("deleted-while-down"))],
        {"findings": []},
    )
    assert [(e.reason, e.about.kind, e.about.name) for e in posted] == [
        (RESOLVED, "Node", "deleted-while-down")
    ]


def _two_duplicated_ips() -> list[dict[str, Any]]:
    return [
        pod("a", "worker-1", "10.244.1.10"),
        pod("b", "worker-2", "10.244.1.10"),
        pod("c", "worker-1", "10.244.1.11"),
        pod("d", "worker-2", "10.244.1.11"),
    ]


def _listed_duplicate_of_first_ip() -> dict[str, Any]:
    message = "Pod IP 10.244.1.10 is held by 2 pods: default/a on worker-1, default/b on worker-2."
    return finding_status(finding("FL021", message, ip="10.244.1.10", count=2))


@pytest.mark.parametrize(
    ("omitted", "node_finding_listed", "raised"),
    [(0, False, ["10.244.1.11"]), (7, False, []), (7, True, ["10.244.1.11"])],
    ids=["all-listed", "cut-among-cluster-findings", "cut-after-a-node-finding-as-bad"],
)
def test_cluster_findings_beyond_the_listed_ones_are_announced_unless_they_may_have_been_cut(
    monkeypatch: pytest.MonkeyPatch, omitted: int, node_finding_listed: bool, raised: list[str]
) -> None:
    """The cluster report lists at most 100 findings, worst first and cluster-level ones first
    within a severity: one that may have been cut was announced before the restart (or
    suppressed) as likely as not, and must not be announced again. A critical cluster finding
    cannot have been cut when a critical node finding is listed: it would stand before it."""
    listed = [_listed_duplicate_of_first_ip()]
    if node_finding_listed:
        listed.append(_unannounced("worker-2"))  # FL015 is critical too
    posted, _ = _recompute_after_start(
        monkeypatch,
        FlannelSettings(),
        _indices({}, _two_duplicated_ips()),
        [_node_report("control-plane"), _node_report("worker-1"), _node_report("worker-2")],
        {"findings": listed, "findingsOmitted": omitted},
    )
    duplicates = [e.message for e in posted if e.reason == "FlannelDuplicatePodIP"]
    ips = ("10.244.1.10", "10.244.1.11")
    assert [ip for ip in ips if any(f"Pod IP {ip} " in m for m in duplicates)] == raised
    # Only the listed node finding, gone now, is resolved; no duplicate IP is.
    resolved = [e for e in posted if e.reason == RESOLVED]
    assert len(resolved) == (1 if node_finding_listed else 0)


@pytest.mark.parametrize(("resync", "reads"), [(3600.0, 1), (0.0, 3)])
def test_the_reports_are_read_back_once_the_resync_interval_has_passed(
    monkeypatch: pytest.MonkeyPatch, resync: float, reads: int
) -> None:
    _, api = _recompute_after_start(
        monkeypatch,
        FlannelSettings(resync=resync),
        _indices({}, []),
        [_node_report("control-plane"), _node_report("worker-1"), _node_report("worker-2")],
        {"findings": []},
        recomputes=2,
    )
    listed = [call for call in api.calls if call[0] == "list_cluster_custom_object"]
    assert len(listed) == reads  # at start, then before each write when it is due
