"""The ``/scale`` subresource of any workload kind, through the official client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery, DiscoveryError

MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "podpilot"


class ScaleError(Exception):
    """The target's scale could not be read or written; ``reason`` is the HPA's event reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Scale:
    """What the HPA uses of a Scale: desired and observed replicas and the pod selector."""

    spec_replicas: int
    status_replicas: int
    selector: str


def _api_exception_text(error: kubernetes.client.ApiException) -> str:
    return f"{error.status} {error.reason}"


class ScaleClient:
    """Reads and patches ``/scale``, resolving the target's kind to its resource once."""

    def __init__(self, clients: ApiClients, discovery: Discovery) -> None:
        self._clients = clients
        self._discovery = discovery
        self._api = kubernetes.client.CustomObjectsApi(clients.kubernetes)

    async def _resource(self, api_version: str, kind: str) -> tuple[str, str, str]:
        try:
            info = await self._discovery.resource_for_kind(api_version, kind)
        except DiscoveryError as error:
            raise ScaleError("FailedGetScale", str(error)) from error
        if not info.scalable:
            raise ScaleError("FailedGetScale", f"{kind} ({api_version}) has no scale subresource")
        if not info.group:
            raise ScaleError(
                "FailedGetScale", f"core-group kind {kind} is not supported as a scale target"
            )
        return info.group, info.version, info.plural

    async def get(self, namespace: str, api_version: str, kind: str, name: str) -> Scale:
        group, version, plural = await self._resource(api_version, kind)
        try:
            raw: object = await self._clients.call(
                self._api.get_namespaced_custom_object_scale,
                group,
                version,
                namespace,
                plural,
                name,
            )
        except kubernetes.client.ApiException as error:
            raise ScaleError(
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: "
                f"{_api_exception_text(error)} ({kind}/{name})",
            ) from error
        if not isinstance(raw, Mapping):
            raise ScaleError("FailedGetScale", f"unexpected scale of {kind}/{name}: {raw!r}")
        spec: Mapping[str, Any] = raw.get("spec") or {}
        status: Mapping[str, Any] = raw.get("status") or {}
        return Scale(
            spec_replicas=int(spec.get("replicas", 0)),
            status_replicas=int(status.get("replicas", 0)),
            selector=str(status.get("selector", "")),
        )

    async def set_replicas(
        self, namespace: str, api_version: str, kind: str, name: str, replicas: int
    ) -> None:
        group, version, plural = await self._resource(api_version, kind)
        try:
            await self._clients.call(
                self._api.patch_namespaced_custom_object_scale,
                group,
                version,
                namespace,
                plural,
                name,
                {"spec": {"replicas": replicas}},
                field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH,
            )
        except kubernetes.client.ApiException as error:
            raise ScaleError(
                "FailedRescale",
                f"New size: {replicas}; error: {_api_exception_text(error)} {error.body or ''}",
            ) from error
