"""PodpilotObjects: the exact client call of each operation, in each scope, with its timeout."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import kubernetes
import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.kube.clients import ApiClients, Timeouts
from podpilot.kube.custom_objects import (
    APPLY_PATCH,
    MERGE_PATCH,
    PodpilotObjects,
)
from podpilot.kube.encoded_request import answered_resource_version
from podpilot.kube.fencing import WriteNotAllowedError


def objects(
    plural: str, *, namespaced: bool, api: FakeCustomObjectsApi
) -> tuple[PodpilotObjects, FakeClients]:
    clients = FakeClients()
    built = PodpilotObjects(
        cast(ApiClients, clients),
        plural,
        namespaced=namespaced,
        api=cast(CustomObjectsApi, api),
    )
    return built, clients


REQUEST_TIMEOUT = Timeouts().pair()


def run(operation: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(operation)


def test_calls_take_the_clients_api_timeout_unless_given_their_own() -> None:
    api = FakeCustomObjectsApi({"items": []})
    _, clients = objects("emptydirreports", namespaced=True, api=api)
    clients.timeouts = Timeouts.reading(12)
    slow = PodpilotObjects(
        cast(ApiClients, clients), "emptydirreports", namespaced=True,
        api=cast(CustomObjectsApi, api),
    )  # fmt: skip
    run(slow.list())
    given = PodpilotObjects(
        cast(ApiClients, clients), "emptydirreports", namespaced=True,
        api=cast(CustomObjectsApi, api), request_timeout=(1, 2),
    )  # fmt: skip
    run(given.list())
    assert [call[2]["_request_timeout"] for call in api.calls[-2:]] == [(5, 12), (1, 2)]


def test_list_is_one_list_across_namespaces_with_an_optional_label_selector() -> None:
    api = FakeCustomObjectsApi({"items": [{"metadata": {"name": "a"}}]})
    reports, clients = objects("emptydirreports", namespaced=True, api=api)
    assert run(reports.list(label_selector="app.kubernetes.io/managed-by=x")) == [
        {"metadata": {"name": "a"}}
    ]
    assert run(reports.list()) == [{"metadata": {"name": "a"}}]
    assert api.calls == [
        (
            "list_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "emptydirreports"),
            {
                "label_selector": "app.kubernetes.io/managed-by=x",
                "_request_timeout": REQUEST_TIMEOUT,
            },
        ),
        (
            "list_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "emptydirreports"),
            {"_request_timeout": REQUEST_TIMEOUT},
        ),
    ]
    assert clients.pools == ["call", "call"]


def test_a_list_without_items_is_empty() -> None:
    reports, _ = objects("r", namespaced=False, api=FakeCustomObjectsApi({"items": None}))
    assert run(reports.list()) == []


def test_get_and_create_of_a_cluster_scoped_object() -> None:
    api = FakeCustomObjectsApi({"metadata": {"uid": "u"}})
    networks, _ = objects("flannelnetworkreports", namespaced=False, api=api)
    assert run(networks.get("cluster")) == {"metadata": {"uid": "u"}}
    body = {"metadata": {"name": "cluster"}}
    assert run(networks.create(body)) == {"metadata": {"uid": "u"}}
    assert api.calls == [
        (
            "get_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "flannelnetworkreports", "cluster"),
            {"_request_timeout": REQUEST_TIMEOUT},
        ),
        (
            "create_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "flannelnetworkreports", body),
            {"_request_timeout": REQUEST_TIMEOUT},
        ),
    ]


def test_get_and_create_of_a_namespaced_object() -> None:
    api = FakeCustomObjectsApi("not a dict")
    reports, _ = objects("emptydirreports", namespaced=True, api=api)
    assert run(reports.get("r", namespace="ns")) == {}
    assert run(reports.create({"k": 1}, namespace="ns")) == {}
    assert [(method, args) for method, args, _ in api.calls] == [
        ("get_namespaced_custom_object", ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "r")),
        (
            "create_namespaced_custom_object",
            ("podpilot.io", "v1alpha1", "ns", "emptydirreports", {"k": 1}),
        ),
    ]


def test_apply_of_the_object_and_of_its_status_are_forced_server_side_applies() -> None:
    api = FakeCustomObjectsApi()
    reports, clients = objects("emptydirreports", namespaced=True, api=api)
    manifest = {"metadata": {"name": "r", "namespace": "ns"}, "spec": {}}
    status_body = {"metadata": {"name": "r", "namespace": "ns"}, "status": {"a": 1}}
    run(reports.apply("r", manifest, field_manager="podpilot-emptydir", namespace="ns"))
    run(
        reports.apply(
            "r", status_body, field_manager="podpilot-emptydir", namespace="ns", status=True
        )
    )
    applied = {
        "field_manager": "podpilot-emptydir",
        "force": True,
        "_content_type": APPLY_PATCH,
        "_request_timeout": REQUEST_TIMEOUT,
    }
    assert api.calls == [
        (
            "patch_namespaced_custom_object",
            ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "r", manifest),
            applied,
        ),
        (
            "patch_namespaced_custom_object_status",
            ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "r", status_body),
            applied,
        ),
    ]
    assert APPLY_PATCH == "application/apply-patch+yaml"
    assert clients.pools == ["call", "call"]


def test_apply_of_a_cluster_scoped_object() -> None:
    api = FakeCustomObjectsApi()
    policies, _ = objects("emptydirauditpolicies", namespaced=False, api=api)
    run(policies.apply("p", {"spec": {}}, field_manager="m"))
    run(policies.apply("p", {"status": {}}, field_manager="m", status=True))
    location = ("podpilot.io", "v1alpha1", "emptydirauditpolicies", "p")
    assert [(method, args) for method, args, _ in api.calls] == [
        ("patch_cluster_custom_object", (*location, {"spec": {}})),
        ("patch_cluster_custom_object_status", (*location, {"status": {}})),
    ]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@contextmanager
def api_server(status: int, answer: bytes) -> Iterator[tuple[str, list[Received]]]:
    """A stand-in API server on 127.0.0.1 that answers every request with ``status``."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            length = int(self.headers["Content-Length"])
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.append(Received("PATCH", self.path, headers, self.rfile.read(length)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def encoded_writer_objects(
    host: str, plural: str = "autoscalers", *, namespaced: bool = True
) -> tuple[PodpilotObjects, FakeClients]:
    configuration = kubernetes.client.Configuration()
    configuration.host = host
    configuration.api_key = {"authorization": "token-1"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    clients = FakeClients(kubernetes.client.ApiClient(configuration))
    built = PodpilotObjects(
        cast(ApiClients, clients),
        plural,
        namespaced=namespaced,
        api=cast(CustomObjectsApi, FakeCustomObjectsApi()),
    )
    return built, clients


def test_an_encoded_status_is_sent_as_it_is_with_the_credentials_in_the_status_pool() -> None:
    encoded = b'{"desiredReplicas":3,"lastDecision":{"action":"NoChange"}}'
    with api_server(200, b'{"kind":"Autoscaler"}') as (host, received):
        autoscalers, clients = encoded_writer_objects(host)
        run(
            autoscalers.merge_patch_encoded_status(
                "web", encoded, namespace="ns", field_manager="podpilot"
            )
        )
        clients.kubernetes.close()
    [request] = received
    assert request.method == "PATCH"
    assert request.path == (
        "/apis/podpilot.io/v1alpha1/namespaces/ns/autoscalers/web/status?fieldManager=podpilot"
    )
    assert request.body == b'{"status":' + encoded + b"}"
    assert json.loads(request.body) == {
        "status": {"desiredReplicas": 3, "lastDecision": {"action": "NoChange"}}
    }
    assert request.headers["content-type"] == MERGE_PATCH
    assert request.headers["authorization"] == "Bearer token-1"
    assert request.headers["user-agent"] == clients.kubernetes.user_agent  # the client's own
    assert clients.pools == ["write_status"]


def test_a_conditional_status_names_the_version_and_returns_the_written_one() -> None:
    answer = b'{"kind":"Autoscaler","metadata":{"name":"web","resourceVersion":"812"}}'
    with api_server(200, answer) as (host, received):
        autoscalers, clients = encoded_writer_objects(host)
        written = run(
            autoscalers.merge_patch_encoded_status(
                "web", b'{"desiredReplicas":3}', namespace="ns", resource_version="811"
            )
        )
        clients.kubernetes.close()
    [request] = received
    assert json.loads(request.body) == {
        "metadata": {"resourceVersion": "811"},
        "status": {"desiredReplicas": 3},
    }
    assert written == "812"


@pytest.mark.parametrize(
    ("answer", "version"),
    [
        (b'{"metadata":{"name":"web","resourceVersion":"812"},"status":{}}', "812"),
        # A label keyed resourceVersion comes first in the apiserver's sorted keys: parsed.
        (b'{"metadata":{"labels":{"resourceVersion":"x"},"resourceVersion":"9"}}', "9"),
        (b'{"metadata":{"annotations":{"a":"\\"resourceVersion\\":\\"1\\""},'
         b'"resourceVersion":"10"}}', "10"),
    ],
)  # fmt: skip
def test_the_answered_version_is_the_objects(answer: bytes, version: str) -> None:
    assert answered_resource_version(answer) == version


@pytest.mark.parametrize(
    "answer", [b"", b"not json", b"[1]", b'{"metadata":{"resourceVersion":7}}', b"[" * 100_000]
)
def test_an_answer_without_a_version_returns_none(answer: bytes) -> None:
    with api_server(200, answer) as (host, _):
        autoscalers, clients = encoded_writer_objects(host)
        written = run(autoscalers.merge_patch_encoded_status("web", b"{}", namespace="ns"))
        clients.kubernetes.close()
    assert written is None


def test_a_status_of_a_cluster_scoped_object_goes_out_the_same_way_encoded_here() -> None:
    """The emptyDir policy's and flannel reports' statuses: the same request as an
    Autoscaler's, in the shared pool (never ahead of an Autoscaler's urgent write)."""
    with api_server(200, b"{}") as (host, received):
        policies, clients = encoded_writer_objects(host, "emptydirauditpolicies", namespaced=False)
        run(policies.merge_patch_status("default", {"lastFullScan": "t", "gone": None}))
        clients.kubernetes.close()
    [request] = received
    assert request.path == "/apis/podpilot.io/v1alpha1/emptydirauditpolicies/default/status"
    assert request.body == b'{"status":{"lastFullScan":"t","gone":null}}'
    assert request.headers["content-type"] == MERGE_PATCH == "application/merge-patch+json"
    assert clients.pools == ["call"]


def test_a_refused_encoded_status_raises_the_api_servers_answer() -> None:
    refusal = b'{"kind":"Status","reason":"NotFound","code":404}'
    with api_server(404, refusal) as (host, received):
        autoscalers, clients = encoded_writer_objects(host)
        with pytest.raises(ApiException) as raised:
            run(autoscalers.merge_patch_encoded_status("gone", b"{}", namespace="ns"))
        clients.kubernetes.close()
    assert raised.value.status == 404
    assert raised.value.body == refusal.decode()
    assert "?" not in received[0].path  # no field manager named, none sent
    with pytest.raises(ValueError, match="autoscalers is namespaced"):
        run(autoscalers.merge_patch_encoded_status("web", b"{}"))


def test_an_encoded_status_goes_out_only_while_the_replica_may_write() -> None:
    """Asked when the call runs in the status pool, not when it was queued: a fence in
    between refuses the write, and nothing reaches the API server."""
    fenced = False
    asked_in: list[list[str]] = []

    def may_write() -> bool:
        asked_in.append(list(clients.pools))
        return not fenced

    with api_server(200, b"{}") as (host, received):
        autoscalers, clients = encoded_writer_objects(host)
        write = partial(autoscalers.merge_patch_encoded_status, "web", b"{}", namespace="ns")
        write = partial(write, may_write=may_write)
        run(write())
        fenced = True
        with pytest.raises(WriteNotAllowedError, match="may no longer act for it"):
            run(write())
        clients.kubernetes.close()
    assert len(received) == 1
    assert asked_in == [["write_status"], ["write_status", "write_status"]]


def test_delete_in_each_scope_says_whether_it_deleted() -> None:
    api = FakeCustomObjectsApi()
    reports, _ = objects("emptydirreports", namespaced=True, api=api)
    subnets, _ = objects("flannelsubnetreports", namespaced=False, api=api)
    assert run(reports.delete("r", namespace="ns")) is True
    assert run(subnets.delete("node-1")) is True
    assert api.calls == [
        (
            "delete_namespaced_custom_object",
            ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "r"),
            {"_request_timeout": REQUEST_TIMEOUT},
        ),
        (
            "delete_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "flannelsubnetreports", "node-1"),
            {"_request_timeout": REQUEST_TIMEOUT},
        ),
    ]


def test_deleting_a_missing_object_is_fine_other_errors_raise() -> None:
    gone, _ = objects("r", namespaced=False, api=FakeCustomObjectsApi(fail=ApiException(404)))
    assert run(gone.delete("x")) is False
    refused, _ = objects("r", namespaced=False, api=FakeCustomObjectsApi(fail=ApiException(403)))
    with pytest.raises(ApiException) as raised:
        run(refused.delete("x"))
    assert raised.value.status == 403


def test_a_namespace_must_match_the_scope() -> None:
    api = FakeCustomObjectsApi()
    reports, _ = objects("emptydirreports", namespaced=True, api=api)
    subnets, _ = objects("flannelsubnetreports", namespaced=False, api=api)
    with pytest.raises(ValueError, match="emptydirreports is namespaced"):
        run(reports.delete("r"))
    with pytest.raises(ValueError, match="flannelsubnetreports is cluster-scoped"):
        run(subnets.merge_patch_status("n", {}, namespace="ns"))
    assert api.calls == []
