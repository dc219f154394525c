"""Reads and writes of podpilot's own resources (podpilot.io), through the official client.

One :class:`PodpilotObjects` per resource (plural), namespaced or cluster-scoped, offers the few
operations the controllers use. Every call has an explicit ``_request_timeout`` (the operator's
``--api-timeout`` unless the caller names one) and runs off the event loop through
:class:`ApiClients`. A write given a ``may_write`` asks it in the pool's thread, right before
the request (``kube.fencing``). What to write, when, and under which field manager is the
callers' business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import kubernetes
from kubernetes.client import CustomObjectsApi

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.kube.clients import ApiClients
from podpilot.kube.encoded_request import EncodedRequest
from podpilot.kube.fencing import MayWrite, always, send_if_allowed

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
"""(connect, read) seconds of every call."""

Object = dict[str, Any]
Method = Callable[..., object]


class PodpilotObjects:
    """The objects of one podpilot.io resource.

    ``namespace`` is required by the methods of a namespaced resource and refused by those of a
    cluster-scoped one; :meth:`list` always lists across all namespaces.
    """

    def __init__(
        self,
        clients: ApiClients,
        plural: str,
        *,
        namespaced: bool,
        api: CustomObjectsApi | None = None,
        request_timeout: tuple[float, float] | None = None,
    ) -> None:
        self._clients = clients
        self.plural = plural
        self.namespaced = namespaced
        self._api = api if api is not None else CustomObjectsApi(clients.kubernetes)
        # The operator's --api-timeout, as for every other call, unless the caller names one.
        self._timeout = request_timeout or clients.timeouts.pair()

    async def list(self, label_selector: str | None = None) -> list[Object]:
        """The items of one LIST across all namespaces, optionally by label."""
        selection = {} if label_selector is None else {"label_selector": label_selector}
        listing = await self._clients.call(
            self._api.list_cluster_custom_object,
            GROUP, VERSION, self.plural,
            **selection, _request_timeout=self._timeout,
        )  # fmt: skip
        return list(_as_dict(listing).get("items") or [])

    async def get(self, name: str, namespace: str | None = None) -> Object:
        """One object; a missing one raises ``ApiException`` 404."""
        api = self._api
        method, location = self._scoped(
            api.get_cluster_custom_object, api.get_namespaced_custom_object, namespace, name
        )
        found = await self._clients.call(method, *location, _request_timeout=self._timeout)
        return _as_dict(found)

    async def create(
        self,
        body: Mapping[str, Any],
        namespace: str | None = None,
        *,
        may_write: MayWrite = always,
    ) -> Object:
        """Create an object and return it as created (an existing one raises 409)."""
        api = self._api
        method, location = self._scoped(
            api.create_cluster_custom_object, api.create_namespaced_custom_object, namespace
        )
        create = partial(method, *location, dict(body), _request_timeout=self._timeout)
        return _as_dict(await self._clients.call(send_if_allowed, may_write, create))

    async def apply(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        namespace: str | None = None,
        status: bool = False,
        may_write: MayWrite = always,
    ) -> None:
        """Server-side apply of the object, forced: conflicting fields become the manager's.

        With ``status`` it applies ``/status`` instead; ``body`` then holds apiVersion, kind,
        metadata (name and namespace) and status.
        """
        if status:
            target = self._status(namespace, name)
        else:
            api = self._api
            target = self._scoped(
                api.patch_cluster_custom_object, api.patch_namespaced_custom_object, namespace, name
            )
        method, location = target
        apply = partial(
            method, *location, dict(body),
            field_manager=field_manager, force=True, _content_type=APPLY_PATCH,
            _request_timeout=self._timeout,
        )  # fmt: skip
        await self._clients.call(send_if_allowed, may_write, apply)

    async def merge_patch(
        self, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> None:
        """Merge-patch the object itself; a ``metadata.resourceVersion`` in ``patch`` makes the
        write conditional (409 Conflict when the object changed since)."""
        api = self._api
        method, location = self._scoped(
            api.patch_cluster_custom_object, api.patch_namespaced_custom_object, namespace, name
        )
        await self._clients.call(
            method, *location, dict(patch),
            _content_type=MERGE_PATCH, _request_timeout=self._timeout,
        )  # fmt: skip

    async def merge_patch_status(
        self,
        name: str,
        status: Mapping[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        may_write: MayWrite = always,
    ) -> None:
        """Merge-patch ``/status`` with ``{"status": status}``: the same request as the
        Autoscaler's (``merge_patch_encoded_status``), in the shared pool, not the status
        writes' own: a burst of report statuses must not hold up an Autoscaler's urgent write
        (the record of a rescale, before its patch)."""
        encoded = json.dumps(dict(status), separators=(",", ":")).encode()
        request = self._status_patch(name, encoded, namespace, field_manager)
        await self._clients.call(send_if_allowed, may_write, request.send)

    async def merge_patch_encoded_status(
        self,
        name: str,
        encoded_status: bytes,
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        resource_version: str | None = None,
        may_write: MayWrite = always,
    ) -> str | None:
        """Merge-patch ``/status`` with a status already encoded as JSON (the Autoscaler's
        frequent writes hold their queued statuses encoded, see ``EncodedRequest``); return the
        written object's resourceVersion.

        With ``resource_version`` the write is conditional: 409 Conflict when the object
        changed since that version. The call runs in the status-write pool (a burst of writes
        must not hold up reads); ``may_write`` is asked in that pool's thread, right before the
        request (``kube.fencing``).
        """
        request = self._status_patch(
            name, encoded_status, namespace, field_manager, resource_version
        )
        return await self._clients.write_status(send_if_allowed, may_write, request.send)

    def _status_patch(
        self,
        name: str,
        encoded_status: bytes,
        namespace: str | None,
        field_manager: str | None,
        resource_version: str | None = None,
    ) -> EncodedRequest:
        self._check_scope(namespace)
        scope = "" if namespace is None else f"/namespaces/{quote(namespace, safe='')}"
        path = f"/apis/{GROUP}/{VERSION}{scope}/{self.plural}/{quote(name, safe='')}/status"
        precondition = b""
        if resource_version is not None:
            encoded_version = json.dumps(resource_version).encode()
            precondition = b'"metadata":{"resourceVersion":' + encoded_version + b"},"
        return EncodedRequest(
            client=self._clients.kubernetes,
            method="PATCH",
            path=path,
            query=() if field_manager is None else (("fieldManager", field_manager),),
            body=b"{" + precondition + b'"status":' + encoded_status + b"}",
            content_type=MERGE_PATCH,
            timeout=self._timeout,
        )

    async def delete(
        self, name: str, namespace: str | None = None, *, may_write: MayWrite = always
    ) -> bool:
        """Delete an object; False when it was already gone (404), other errors raise."""
        api = self._api
        method, location = self._scoped(
            api.delete_cluster_custom_object, api.delete_namespaced_custom_object, namespace, name
        )
        delete = partial(method, *location, _request_timeout=self._timeout)
        try:
            await self._clients.call(send_if_allowed, may_write, delete)
        except kubernetes.client.exceptions.ApiException as error:
            if error.status != 404:
                raise
            return False
        return True

    def _status(self, namespace: str | None, name: str) -> tuple[Method, tuple[str, ...]]:
        api = self._api
        return self._scoped(
            api.patch_cluster_custom_object_status,
            api.patch_namespaced_custom_object_status,
            namespace,
            name,
        )

    def _scoped(
        self, cluster: Method, namespaced: Method, namespace: str | None, *names: str
    ) -> tuple[Method, tuple[str, ...]]:
        """The client method of this resource's scope and its leading arguments, group to
        name."""
        self._check_scope(namespace)
        if namespace is None:
            return cluster, (GROUP, VERSION, self.plural, *names)
        return namespaced, (GROUP, VERSION, namespace, self.plural, *names)

    def _check_scope(self, namespace: str | None) -> None:
        if self.namespaced != (namespace is not None):
            scope = "namespaced" if self.namespaced else "cluster-scoped"
            raise ValueError(f"{self.plural} is {scope}: namespace={namespace!r} does not fit")


def _as_dict(value: object) -> Object:
    return value if isinstance(value, dict) else {}
