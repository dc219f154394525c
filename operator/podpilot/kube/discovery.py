"""API discovery through pykube: which versions a group serves, and a kind's resource name."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pykube
import requests

from podpilot.kube.clients import ApiClients, no_answer

CACHE_SECONDS = 300.0
# "Not served" is remembered briefly only: an APIService that was down for a minute, or a CRD
# just installed, must not stay unknown for five minutes.
NEGATIVE_CACHE_SECONDS = 15.0


class DiscoveryError(Exception):
    """A group or kind is not served by this cluster."""


@dataclass(frozen=True)
class ResourceInfo:
    """A kind's plural resource name and whether it has a ``/scale`` subresource."""

    group: str
    version: str
    plural: str
    namespaced: bool
    scalable: bool


class Discovery:
    """Cached discovery documents; a missing group is remembered for a short time too."""

    def __init__(
        self,
        clients: ApiClients,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
        negative_cache_seconds: float = NEGATIVE_CACHE_SECONDS,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._negative_cache_seconds = negative_cache_seconds
        self._documents: dict[str, tuple[float, Mapping[str, Any] | None]] = {}

    async def _document(self, path: str, max_age: float | None = None) -> Mapping[str, Any] | None:
        """The discovery document at ``path`` (None: not served), from the cache while it is
        younger than ``max_age`` (default: the positive or the negative TTL)."""
        cached = self._documents.get(path)
        if cached is not None:
            fetched_at, document = cached
            if max_age is None:
                served = document is not None
                max_age = self._cache_seconds if served else self._negative_cache_seconds
            if self._clock() - fetched_at < max_age:
                return document
        document = await self._clients.call(self._get, path)
        self._documents[path] = (self._clock(), document)
        return document

    def _get(self, path: str) -> Mapping[str, Any] | None:
        try:
            response = self._clients.pykube.get(version=path)
        except requests.RequestException as error:
            clients = self._clients
            reason = no_answer(error, clients.server, clients.timeouts)
            raise DiscoveryError(f"discovery of {path} failed: {reason}") from error
        if response.status_code in (404, 503):
            return None
        try:
            self._clients.pykube.raise_for_status(response)
        except pykube.exceptions.HTTPError as error:
            raise DiscoveryError(f"discovery of {path} failed: {error}") from error
        document: Mapping[str, Any] = response.json()
        return document

    def forget(self, path: str) -> None:
        self._documents.pop(path, None)

    async def served_versions(self, group: str) -> list[str]:
        """Versions of ``group`` the cluster serves, preferred first (empty: not served)."""
        document = await self._document(f"/apis/{group}")
        if document is None:
            return []
        preferred = (document.get("preferredVersion") or {}).get("version")
        versions = [item["version"] for item in document.get("versions", [])]
        return sorted(versions, key=lambda version: version != preferred)

    async def negotiate(self, group: str, supported: tuple[str, ...]) -> str:
        """The first of our ``supported`` versions the cluster serves."""
        served = await self.served_versions(group)
        for version in supported:
            if version in served:
                return version
        if not served:
            self.forget(f"/apis/{group}")
            raise DiscoveryError(f"the API group {group} is not served by this cluster")
        raise DiscoveryError(
            f"{group} serves {', '.join(served)}, none of the versions podpilot reads "
            f"({', '.join(supported)})"
        )

    async def resource_for_kind(self, api_version: str, kind: str) -> ResourceInfo:
        """Map ``apiVersion``/``kind`` to its resource, e.g. apps/v1 Deployment -> deployments."""
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version or 'v1'}"
        document = await self._document(path)
        if document is None:
            raise DiscoveryError(f"{api_version} is not served by this cluster")
        found = _resource_info(document, api_version, kind)
        if found is None:
            # A kind missing from a served version is a negative answer too (a CRD installed
            # since): read the document again once it is older than the negative TTL.
            document = await self._document(path, self._negative_cache_seconds)
            found = _resource_info(document or {}, api_version, kind)
        if found is None:
            raise DiscoveryError(f"kind {kind} is not served in {api_version}")
        return found


def _resource_info(document: Mapping[str, Any], api_version: str, kind: str) -> ResourceInfo | None:
    """``kind`` in a group version's discovery document, or None when it is not there."""
    resources = document.get("resources", [])
    names = {item["name"] for item in resources}
    for item in resources:
        if item.get("kind") == kind and "/" not in item["name"]:
            group, _, version = api_version.rpartition("/")
            return ResourceInfo(
                group=group,
                version=version,
                plural=item["name"],
                namespaced=bool(item.get("namespaced")),
                scalable=f"{item['name']}/scale" in names,
            )
    return None
