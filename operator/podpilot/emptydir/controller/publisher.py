"""Write ``EmptyDirReport`` objects and the policy status, through ``podpilot.kube``.

Each request goes out only if ``may_write`` says yes, asked right before it (``kube.fencing``):
a refused one raises ``WriteNotAllowedError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client import CustomObjectsApi

from podpilot.emptydir.api.report_objects import (
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    POLICIES,
    REPORTS,
)
from podpilot.kube.clients import ApiClients
from podpilot.kube.custom_objects import PodpilotObjects
from podpilot.kube.fencing import MayWrite, always


class ReportPublisher:
    """Server-side apply of reports (object, then status); deletes; the policy status."""

    def __init__(
        self,
        api: ApiClients,
        custom: CustomObjectsApi | None = None,
        *,
        may_write: MayWrite = always,
    ) -> None:
        self._may_write = may_write
        self._reports = PodpilotObjects(api, REPORTS, namespaced=True, api=custom)
        self._policies = PodpilotObjects(api, POLICIES, namespaced=False, api=custom)

    async def list_reports(self) -> list[dict[str, Any]]:
        """Every report this controller manages, across namespaces (once, at start)."""
        return await self._reports.list(label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")

    async def apply(self, manifest: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Create or update a report and its status with server-side apply."""
        namespace = manifest["metadata"]["namespace"]
        name = manifest["metadata"]["name"]
        await self._reports.apply(
            name,
            manifest,
            field_manager=FIELD_MANAGER,
            namespace=namespace,
            may_write=self._may_write,
        )
        body = {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "metadata": {"name": name, "namespace": namespace},
            "status": dict(status),
        }
        await self._reports.apply(
            name,
            body,
            field_manager=FIELD_MANAGER,
            namespace=namespace,
            status=True,
            may_write=self._may_write,
        )

    async def delete(self, namespace: str, name: str) -> None:
        """Delete a report that no longer has pods to describe; a missing one is fine."""
        await self._reports.delete(name, namespace=namespace, may_write=self._may_write)

    async def policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch the status of the cluster policy."""
        await self._policies.merge_patch_status(name, status, may_write=self._may_write)
