"""The ``/scale`` subresource of any workload kind, through the official client.

Writes are conditional, as the HPA's are: the patch carries the resourceVersion of the scale
the decision was made from, so a change made meanwhile by anyone else is refused with 409
Conflict (``ScaleConflictError``) instead of being overwritten. A Scale's resourceVersion is
its workload's, so the Deployment watch's resourceVersion serves as well as ``GET /scale``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import kubernetes

from podpilot.kube.clients import TRANSPORT_ERRORS, ApiClients, no_answer
from podpilot.kube.discovery import Discovery, DiscoveryError
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError, always, send_if_allowed

MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "podpilot"
CONFLICT = 409


class ScaleError(Exception):
    """The target's scale could not be read or written; ``reason`` is the HPA's event reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ScaleConflictError(ScaleError):
    """The target changed since the scale the write was based on was read (409 Conflict)."""


class ScaleOutcomeUnknownError(ScaleError):
    """A patch got no answer, or a server error: it may have been applied all the same."""


@dataclass(frozen=True)
class Scale:
    """What the HPA uses of a Scale: desired and observed replicas and the pod selector.

    ``resource_version`` is what a conditional write is based on; it is not part of the
    value (two reads of the same counts and selector compare equal).
    """

    spec_replicas: int
    status_replicas: int
    selector: str
    resource_version: str = field(default="", compare=False)


class ScaleApi(Protocol):
    """The two calls of ``kubernetes.client.CustomObjectsApi`` this client makes, by group,
    version, namespace, plural and name (``GroupRoutedScaleApi`` adds the core group)."""

    def get_namespaced_custom_object_scale(self, *args: Any, **kwargs: Any) -> Any: ...

    def patch_namespaced_custom_object_scale(self, *args: Any, **kwargs: Any) -> Any: ...


CORE_SCALABLE_RESOURCES = frozenset({"replicationcontrollers"})
"""The core group's kinds with a scale subresource (``/api/v1``, not ``/apis/{group}``)."""


class GroupRoutedScaleApi:
    """``ScaleApi`` for every group: ``CustomObjectsApi`` builds ``/apis/{group}/{version}``
    paths only, so the core group's ReplicationController goes through ``CoreV1Api``; its
    typed answer is turned back into the plain mapping the other groups answer with."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self._custom = kubernetes.client.CustomObjectsApi(client)
        self._core = kubernetes.client.CoreV1Api(client)
        self._plain: Callable[[object], object] = client.sanitize_for_serialization

    def get_namespaced_custom_object_scale(
        self, group: str, version: str, namespace: str, plural: str, name: str, **options: Any
    ) -> Any:
        if group:
            return self._custom.get_namespaced_custom_object_scale(
                group, version, namespace, plural, name, **options
            )
        return self._plain(
            self._core.read_namespaced_replication_controller_scale(name, namespace, **options)
        )

    def patch_namespaced_custom_object_scale(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        **options: Any,
    ) -> Any:
        if group:
            return self._custom.patch_namespaced_custom_object_scale(
                group, version, namespace, plural, name, body, **options
            )
        return self._plain(
            self._core.patch_namespaced_replication_controller_scale(
                name, namespace, body, **options
            )
        )


@dataclass(frozen=True)
class WriteHooks:
    """Test hooks around a ``/scale`` patch, by target namespace (``app/hooks.py``);
    production has none."""

    before_patch: Callable[[str], Awaitable[None]] | None = None
    after_patch: Callable[[str], None] | None = None


def _patch_failure(status: int | None) -> type[ScaleError]:
    """A 409 is a conflict; a 5xx (an apiserver timeout, say) may come after the write was
    stored, like no answer at all; any other refusal wrote nothing."""
    if status == CONFLICT:
        return ScaleConflictError
    if status is not None and status >= 500:
        return ScaleOutcomeUnknownError
    return ScaleError


def _api_exception_text(error: kubernetes.client.ApiException) -> str:
    return f"{error.status} {error.reason}"


TargetKey = tuple[str, str, str, str]  # namespace, apiVersion, kind, name


class OwnWrites:
    """Replica counts this process patched that a watch may not have delivered yet."""

    def __init__(self) -> None:
        self._written: dict[TargetKey, int] = {}

    def remember(self, target: TargetKey, replicas: int) -> None:
        self._written[target] = replicas

    def trust(self, target: TargetKey, watched: Scale | None) -> bool:
        """Whether the watched scale may stand in for ``GET /scale``: it must show this
        process's last patch, if any. Either way the patch is then forgotten: the caller
        reads ``/scale`` when it is not trusted, and that read is current."""
        written = self._written.pop(target, None)
        return watched is not None and written in (None, watched.spec_replicas)


class ScaleClient:
    """Reads and patches ``/scale``, resolving the target's kind to its resource once.

    A caller that watches the target passes the watched Scale to ``get``; it is used unless
    this client changed the replica count since and the watch has not shown that yet (then
    ``/scale`` is read, so a decision never rests on the count from before its own patch).
    """

    def __init__(
        self,
        clients: ApiClients,
        discovery: Discovery,
        api: ScaleApi | None = None,
        hooks: WriteHooks | None = None,
        may_write: MayWrite = always,
    ) -> None:
        self._clients = clients
        self._discovery = discovery
        self._api: ScaleApi = api or GroupRoutedScaleApi(clients.kubernetes)
        self._own_writes = OwnWrites()
        self._hooks = hooks or WriteHooks()
        self._may_write = may_write

    def _patch_if_allowed(self, may_write: MayWrite, *args: Any, **kwargs: Any) -> Any:
        """The patch, in the pool's thread, if this replica may still write (``kube.fencing``)."""
        patch = partial(self._api.patch_namespaced_custom_object_scale, *args, **kwargs)
        return send_if_allowed(lambda: self._may_write() and may_write(), patch)

    def _no_answer(self, error: BaseException) -> str:
        return no_answer(error, self._clients.server, self._clients.timeouts)

    async def _resource(self, api_version: str, kind: str) -> tuple[str, str, str]:
        try:
            info = await self._discovery.resource_for_kind(api_version, kind)
        except DiscoveryError as error:
            raise ScaleError("FailedGetScale", str(error)) from error
        if not info.scalable:
            raise ScaleError("FailedGetScale", f"{kind} ({api_version}) has no scale subresource")
        if not info.group and info.plural not in CORE_SCALABLE_RESOURCES:
            raise ScaleError(
                "FailedGetScale", f"core-group kind {kind} is not supported as a scale target"
            )
        return info.group, info.version, info.plural

    async def get(
        self,
        namespace: str,
        api_version: str,
        kind: str,
        name: str,
        watched: Scale | None = None,
    ) -> Scale:
        trusted = self._own_writes.trust((namespace, api_version, kind, name), watched)
        if trusted and watched is not None:
            return watched
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
        except TRANSPORT_ERRORS as error:
            raise ScaleError(
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: "
                f"{self._no_answer(error)} ({kind}/{name})",
            ) from error
        if not isinstance(raw, Mapping):
            raise ScaleError("FailedGetScale", f"unexpected scale of {kind}/{name}: {raw!r}")
        spec: Mapping[str, Any] = raw.get("spec") or {}
        status: Mapping[str, Any] = raw.get("status") or {}
        metadata: Mapping[str, Any] = raw.get("metadata") or {}
        return Scale(
            spec_replicas=int(spec.get("replicas", 0)),
            status_replicas=int(status.get("replicas", 0)),
            selector=str(status.get("selector", "")),
            resource_version=str(metadata.get("resourceVersion") or ""),
        )

    async def set_replicas(
        self,
        namespace: str,
        api_version: str,
        kind: str,
        name: str,
        replicas: int,
        resource_version: str,
        may_write: MayWrite = always,
    ) -> None:
        """Patch the replica count, on condition that the scale is still at
        ``resource_version`` (the apiserver answers 409 otherwise: ``ScaleConflictError``).
        An empty ``resource_version`` writes unconditionally. ``may_write`` is this caller's
        own condition (the Autoscaler's shard), asked with the client's right before sending."""
        group, version, plural = await self._resource(api_version, kind)
        body: dict[str, Any] = {"spec": {"replicas": replicas}}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        if self._hooks.before_patch is not None:
            await self._hooks.before_patch(namespace)
        try:
            await self._clients.call(
                self._patch_if_allowed,
                may_write,
                group,
                version,
                namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH,
            )
        except WriteNotAllowedError as error:
            raise ScaleError("NotLeader", str(error)) from error
        except kubernetes.client.ApiException as error:
            failure = _patch_failure(error.status)
            raise failure(
                "FailedRescale",
                f"New size: {replicas}; error: {_api_exception_text(error)} {error.body or ''}",
            ) from error
        except TRANSPORT_ERRORS as error:
            raise ScaleOutcomeUnknownError(
                "FailedRescale", f"New size: {replicas}; error: {self._no_answer(error)}"
            ) from error
        self._own_writes.remember((namespace, api_version, kind, name), replicas)
        if self._hooks.after_patch is not None:
            self._hooks.after_patch(namespace)
