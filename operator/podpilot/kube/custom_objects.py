"""Status patches of podpilot's own resources, through the official client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kubernetes

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.kube.clients import ApiClients

MERGE_PATCH = "application/merge-patch+json"


class StatusWriter:
    """Merge-patches ``/status`` of namespaced podpilot.io objects."""

    def __init__(self, clients: ApiClients, plural: str) -> None:
        self._clients = clients
        self._plural = plural
        self._api = kubernetes.client.CustomObjectsApi(clients.kubernetes)

    async def patch(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await self._clients.write_status(self._patch, namespace, name, dict(status))

    def _patch(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        # The answer (the whole object) is drained, not parsed: nothing reads it, and parsing
        # thousands of them in the writer threads only grew their memory.
        response = self._api.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            self._plural,
            name,
            {"status": status},
            field_manager="podpilot",
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )
        cast(Any, response).drain_conn()
        cast(Any, response).release_conn()
