"""ReportPublisher: the exact API calls of EmptyDirReport and policy status writes."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from tests.unit.kube.fake_custom_objects import FakeClients, FakeCustomObjectsApi

from podpilot.emptydir.controller.publisher import ReportPublisher
from podpilot.kube.clients import ApiClients, Timeouts

APPLIED = {
    "field_manager": "podpilot-emptydir",
    "force": True,
    "_content_type": "application/apply-patch+yaml",
    "_request_timeout": Timeouts().pair(),
}
MANIFEST: dict[str, Any] = {
    "apiVersion": "podpilot.io/v1alpha1",
    "kind": "EmptyDirReport",
    "metadata": {"name": "deployment-web", "namespace": "ns", "labels": {"a": "b"}},
    "spec": {"workload": "Deployment/web"},
}


def publisher(api: FakeCustomObjectsApi) -> ReportPublisher:
    return ReportPublisher(
        cast(ApiClients, FakeClients(recording=api)), cast(CustomObjectsApi, api)
    )


def test_reports_are_listed_across_namespaces_by_the_managed_by_label() -> None:
    api = FakeCustomObjectsApi({"items": [{"metadata": {"name": "r"}}]})
    assert asyncio.run(publisher(api).list_reports()) == [{"metadata": {"name": "r"}}]
    assert api.calls == [
        (
            "list_cluster_custom_object",
            ("podpilot.io", "v1alpha1", "emptydirreports"),
            {
                "label_selector": "app.kubernetes.io/managed-by=podpilot-emptydir",
                "_request_timeout": Timeouts().pair(),
            },
        )
    ]


def test_a_report_is_applied_then_its_status() -> None:
    api = FakeCustomObjectsApi()
    asyncio.run(publisher(api).apply(MANIFEST, {"summary": {"volumes": 1}}))
    location = ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "deployment-web")
    status_body = {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "EmptyDirReport",
        "metadata": {"name": "deployment-web", "namespace": "ns"},
        "status": {"summary": {"volumes": 1}},
    }
    assert api.calls == [
        ("patch_namespaced_custom_object", (*location, MANIFEST), APPLIED),
        ("patch_namespaced_custom_object_status", (*location, status_body), APPLIED),
    ]


def test_a_missing_report_is_deleted_quietly_other_refusals_raise() -> None:
    api = FakeCustomObjectsApi()
    asyncio.run(publisher(api).delete("ns", "deployment-web"))
    assert api.calls == [
        (
            "delete_namespaced_custom_object",
            ("podpilot.io", "v1alpha1", "ns", "emptydirreports", "deployment-web"),
            {"_request_timeout": Timeouts().pair()},
        )
    ]
    asyncio.run(publisher(FakeCustomObjectsApi(fail=ApiException(404))).delete("ns", "r"))
    with pytest.raises(ApiException):
        asyncio.run(publisher(FakeCustomObjectsApi(fail=ApiException(403))).delete("ns", "r"))


def test_the_policy_status_is_merge_patched_without_a_field_manager() -> None:
    api = FakeCustomObjectsApi()
    asyncio.run(publisher(api).policy_status("default", {"lastFullScan": "t"}))
    assert api.calls == [
        (
            "PATCH",
            (
                "/apis/podpilot.io/v1alpha1/emptydirauditpolicies/default/status",
                {"status": {"lastFullScan": "t"}},
            ),
            {},
        )
    ]
