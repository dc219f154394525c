"""ReportPublisher: the exact API calls of FlannelSubnetReport and FlannelNetworkReport writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.flannel.api.reports import Desired, network_report_body, node_report_body
from podpilot.flannel.controller.publisher import ReportPublisher
from podpilot.kube.clients import ApiClients, Timeouts

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "2026-01-02T03:04:05Z"
TIMEOUT = {"_request_timeout": Timeouts().pair()}
NODES = ("podpilot.io", "v1alpha1", "flannelsubnetreports")
NETWORKS = ("podpilot.io", "v1alpha1", "flannelnetworkreports")
NODES_PATH = "/apis/podpilot.io/v1alpha1/flannelsubnetreports"
NETWORKS_PATH = "/apis/podpilot.io/v1alpha1/flannelnetworkreports"


class Written:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None

    def report_written(self, kind: str, operation: str) -> None:
        self.writes.append((kind, operation))


def publisher(api: FakeCustomObjectsApi, recorder: Written) -> ReportPublisher:
    clients = cast(ApiClients, FakeClients(recording=api))
    return ReportPublisher(clients, "cluster", cast(Any, recorder), cast(CustomObjectsApi, api))


def test_a_fresh_cluster_gets_its_reports_created_then_their_status_patched() -> None:
    api = FakeCustomObjectsApi(
        answers={
            "list_cluster_custom_object": {"items": []},
            "create_cluster_custom_object": {"metadata": {"uid": "net-uid"}},
        },
        failures={"get_cluster_custom_object": ApiException(404)},
    )
    recorder = Written()
    reports = publisher(api, recorder)
    assert asyncio.run(reports.seed()) == {}
    desired = Desired(nodes={"n1": {"subnet": "10.0.1.0/24"}}, network={"free": 1})
    asyncio.run(reports.publish(desired, {"n1": "node-uid"}, {"n1"}, NOW))
    assert api.calls == [
        ("list_cluster_custom_object", NODES, TIMEOUT),
        ("get_cluster_custom_object", (*NETWORKS, "cluster"), TIMEOUT),
        ("create_cluster_custom_object", (*NODES, node_report_body("n1", "node-uid")), TIMEOUT),
        (
            "PATCH",
            (f"{NODES_PATH}/n1/status", {"status": {"subnet": "10.0.1.0/24", "observedAt": STAMP}}),
            {},
        ),
        ("create_cluster_custom_object", (*NETWORKS, network_report_body("cluster")), TIMEOUT),
        (
            "PATCH",
            (f"{NETWORKS_PATH}/cluster/status", {"status": {"free": 1, "observedAt": STAMP}}),
            {},
        ),
    ]
    assert reports.network_uid == "net-uid"
    assert recorder.writes == [
        ("FlannelSubnetReport", "create"),
        ("FlannelSubnetReport", "patch-status"),
        ("FlannelNetworkReport", "create"),
        ("FlannelNetworkReport", "patch-status"),
    ]


def test_the_report_of_a_gone_node_is_deleted_and_a_missing_one_is_fine() -> None:
    listed = {"items": [{"metadata": {"name": "gone"}, "status": {"subnet": "s"}}]}
    network = {"metadata": {"uid": "u"}, "status": {"free": 1}}
    for failure, writes in ((None, [("FlannelSubnetReport", "delete")]), (ApiException(404), [])):
        api = FakeCustomObjectsApi(
            answers={"list_cluster_custom_object": listed, "get_cluster_custom_object": network},
            failures={"delete_cluster_custom_object": failure} if failure else {},
        )
        recorder = Written()
        reports = publisher(api, recorder)
        asyncio.run(reports.seed())
        asyncio.run(reports.publish(Desired(nodes={}, network={"free": 1}), {}, set(), NOW))
        assert api.calls[2:] == [("delete_cluster_custom_object", (*NODES, "gone"), TIMEOUT)]
        assert recorder.writes == writes


def _owned_report(name: str, node_uid: str, status: dict[str, Any]) -> dict[str, Any]:
    return {**node_report_body(name, node_uid), "status": status}


NETWORK = {"metadata": {"uid": "net-uid"}, "status": {"free": 1}}
STATUS = {"subnet": "10.0.1.0/24"}
CREATE_N1_OWNED_BY_NEW = (
    "create_cluster_custom_object",
    (*NODES, node_report_body("n1", "new-uid")),
    TIMEOUT,
)
PATCH_N1_WHOLE = (
    "PATCH",
    (f"{NODES_PATH}/n1/status", {"status": {**STATUS, "observedAt": STAMP}}),
    {},
)


def test_a_node_registered_again_while_running_gets_a_report_it_owns() -> None:
    """Deleted and registered again within one debounce window, with the same content: the old
    report names the old Node as owner, so the garbage collector would delete it."""
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": {"items": []}, "get_cluster_custom_object": NETWORK}
    )
    recorder = Written()
    reports = publisher(api, recorder)
    desired = Desired(nodes={"n1": STATUS}, network={"free": 1})

    async def scenario() -> None:
        await reports.seed()
        await reports.publish(desired, {"n1": "old-uid"}, {"n1"}, NOW)
        api.calls.clear()
        await reports.publish(desired, {"n1": "new-uid"}, {"n1"}, NOW)

    asyncio.run(scenario())
    assert api.calls == [
        ("delete_cluster_custom_object", (*NODES, "n1"), TIMEOUT),
        CREATE_N1_OWNED_BY_NEW,
        PATCH_N1_WHOLE,
    ]
    assert recorder.writes[-3:] == [
        ("FlannelSubnetReport", "delete"),
        ("FlannelSubnetReport", "create"),
        ("FlannelSubnetReport", "patch-status"),
    ]


def test_a_node_registered_again_while_the_reporter_was_down_gets_a_report_it_owns() -> None:
    listed = {"items": [_owned_report("n1", "old-uid", STATUS)]}
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": listed, "get_cluster_custom_object": NETWORK}
    )
    reports = publisher(api, Written())
    desired = Desired(nodes={"n1": STATUS}, network={"free": 1})

    async def scenario() -> None:
        await reports.seed()
        await reports.publish(desired, {"n1": "old-uid"}, {"n1"}, NOW)  # unchanged: no call
        await reports.publish(desired, {"n1": "new-uid"}, {"n1"}, NOW)

    asyncio.run(scenario())
    assert api.calls[2:] == [
        ("delete_cluster_custom_object", (*NODES, "n1"), TIMEOUT),
        CREATE_N1_OWNED_BY_NEW,
        PATCH_N1_WHOLE,
    ]


def test_a_report_owned_by_no_node_is_kept() -> None:
    listed = {"items": [{"metadata": {"name": "n1"}, "status": STATUS}]}
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": listed, "get_cluster_custom_object": NETWORK}
    )
    reports = publisher(api, Written())
    desired = Desired(nodes={"n1": STATUS}, network={"free": 1})
    asyncio.run(reports.seed())
    asyncio.run(reports.publish(desired, {"n1": "new-uid"}, {"n1"}, NOW))
    assert api.calls[2:] == []


class FailingOnce(dict[str, BaseException]):
    """``failures`` for FakeCustomObjectsApi: each failure is raised once."""

    def get(self, method: str, default: Any = None) -> Any:
        return self.pop(method, default)


def test_a_report_found_gone_when_patched_is_created_again() -> None:
    listed = {"items": [_owned_report("n1", "new-uid", {"subnet": "old"})]}
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": listed, "get_cluster_custom_object": NETWORK}
    )
    reports = publisher(api, Written())
    asyncio.run(reports.seed())
    api.failures = FailingOnce(PATCH=ApiException(404))
    desired = Desired(nodes={"n1": STATUS}, network={"free": 1})
    asyncio.run(reports.publish(desired, {"n1": "new-uid"}, {"n1"}, NOW))
    assert api.calls[2:] == [
        ("PATCH", (f"{NODES_PATH}/n1/status", {"status": {**STATUS, "observedAt": STAMP}}), {}),
        CREATE_N1_OWNED_BY_NEW,
        PATCH_N1_WHOLE,
    ]


def reading_back_every_minute(api: FakeCustomObjectsApi, seconds: list[float]) -> ReportPublisher:
    """A publisher that reads the reports back every 60 s of a clock reading ``seconds[0]``."""
    return ReportPublisher(
        cast(ApiClients, FakeClients(recording=api)),
        "cluster",
        cast(Any, Written()),
        cast(CustomObjectsApi, api),
        reread_every=60.0,
        clock=lambda: seconds[0],
    )


def test_reports_deleted_behind_its_back_are_written_again_once_read_back() -> None:
    """By hand, or with their CRD: unchanged content alone would never write them again."""
    listed = {"items": [_owned_report("n1", "new-uid", STATUS)]}
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": listed, "get_cluster_custom_object": NETWORK}
    )
    seconds = [0.0]
    reports = reading_back_every_minute(api, seconds)
    desired = Desired(nodes={"n1": STATUS}, network={"free": 1})

    async def publish_at(second: float) -> None:
        seconds[0] = second
        await reports.publish(desired, {"n1": "new-uid"}, {"n1"}, NOW)

    async def scenario() -> None:
        await reports.seed()
        api.answers["list_cluster_custom_object"] = {"items": []}
        api.failures["get_cluster_custom_object"] = ApiException(404)
        await publish_at(59.0)
        assert api.calls[2:] == []  # not read back yet: nothing known to be missing
        await publish_at(60.0)

    asyncio.run(scenario())
    assert api.calls[2:] == [
        ("list_cluster_custom_object", NODES, TIMEOUT),
        ("get_cluster_custom_object", (*NETWORKS, "cluster"), TIMEOUT),
        CREATE_N1_OWNED_BY_NEW,
        PATCH_N1_WHOLE,
        ("create_cluster_custom_object", (*NETWORKS, network_report_body("cluster")), TIMEOUT),
        (
            "PATCH",
            (f"{NETWORKS_PATH}/cluster/status", {"status": {"free": 1, "observedAt": STAMP}}),
            {},
        ),
    ]


def test_a_report_first_seen_at_a_read_back_waits_a_read_back_before_it_is_deleted() -> None:
    """Another reporter wrote it for a node this reporter's watch has not shown yet: deleting
    it at once would take it away until that reporter's own read-back."""
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": {"items": []}, "get_cluster_custom_object": NETWORK}
    )
    seconds = [0.0]
    reports = reading_back_every_minute(api, seconds)
    nothing = Desired(nodes={}, network=NETWORK["status"])

    async def publish_at(second: float) -> None:
        seconds[0] = second
        await reports.publish(nothing, {}, set(), NOW)

    async def scenario() -> None:
        await reports.seed()
        api.answers["list_cluster_custom_object"] = {"items": [_owned_report("n9", "u9", STATUS)]}
        await publish_at(60.0)  # read back: n9 is new, its node unknown here
        assert not [call for call in api.calls if call[0] == "delete_cluster_custom_object"]
        await publish_at(120.0)  # still listed a read-back later, its node still unknown

    asyncio.run(scenario())
    deleted = [call[1] for call in api.calls if call[0] == "delete_cluster_custom_object"]
    assert deleted == [(*NODES, "n9")]


def test_a_failed_read_back_leaves_the_writes_going_and_waits_an_interval() -> None:
    api = FakeCustomObjectsApi(
        answers={"list_cluster_custom_object": {"items": []}, "get_cluster_custom_object": NETWORK}
    )
    seconds = [0.0]
    reports = reading_back_every_minute(api, seconds)

    async def publish_at(second: float) -> None:
        seconds[0] = second
        await reports.publish(Desired(nodes={"n1": STATUS}, network={}), {"n1": "u1"}, {"n1"}, NOW)

    async def scenario() -> None:
        await reports.seed()
        api.failures["list_cluster_custom_object"] = ApiException(504)
        await publish_at(60.0)  # the read fails; the report is written all the same
        await publish_at(61.0)  # not read again before another interval

    asyncio.run(scenario())
    listed = [call for call in api.calls if call[0] == "list_cluster_custom_object"]
    assert len(listed) == 2  # the seed's and the failed one
    assert [call for call in api.calls if call[0] == "create_cluster_custom_object"]
