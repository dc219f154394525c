"""Write ``EmptyDirReport`` objects and the policy status through the official client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kubernetes

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.emptydir.api.report_objects import (
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    POLICIES,
    REPORTS,
)
from podpilot.kube.clients import ApiClients

_APPLY = "application/apply-patch+yaml"


class ReportPublisher:
    """Server-side apply of reports (object, then status); deletes; the policy status."""

    def __init__(self, api: ApiClients) -> None:
        self._api = api
        self._custom = kubernetes.client.CustomObjectsApi(api.kubernetes)

    async def list_reports(self) -> list[dict[str, Any]]:
        """Every report this controller manages, across namespaces (once, at start)."""
        listing = await self._api.call(
            self._custom.list_cluster_custom_object,
            REPORTS,
            label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}",
        )
        items = cast(Mapping[str, Any], listing).get("items") or []
        return list(items)

    async def apply(self, manifest: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Create or update a report and its status with server-side apply."""
        namespace = manifest["metadata"]["namespace"]
        name = manifest["metadata"]["name"]
        await self._api.call(
            self._custom.patch_namespaced_custom_object,
            GROUP, VERSION, namespace, REPORTS, name, dict(manifest),
            field_manager=FIELD_MANAGER, force=True, _content_type=_APPLY,
        )  # fmt: skip
        body = {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": name, "namespace": namespace},
            "status": dict(status),
        }
        await self._api.call(
            self._custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, REPORTS, name, body,
            field_manager=FIELD_MANAGER, force=True, _content_type=_APPLY,
        )  # fmt: skip

    async def delete(self, namespace: str, name: str) -> None:
        """Delete a report that no longer has pods to describe; a missing one is fine."""
        try:
            await self._api.call(
                self._custom.delete_namespaced_custom_object,
                namespace,
                REPORTS,
                name,
            )
        except kubernetes.client.exceptions.ApiException as error:
            if error.status != 404:
                raise

    async def policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status of the cluster policy."""
        await self._api.call(
            self._custom.patch_cluster_custom_object_status,
            GROUP, VERSION, POLICIES, name, {"status": dict(status)},
            _content_type="application/merge-patch+json",
        )  # fmt: skip
