"""ScaleClient: reads carry the scale's resourceVersion, writes are conditional on one, and a
409 Conflict becomes ``ScaleConflictError``; the API object is injected, nothing is sent."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from podpilot.kube.clients import ApiClients, Timeouts
from podpilot.kube.discovery import Discovery, ResourceInfo
from podpilot.kube.scale import (
    Scale,
    ScaleClient,
    ScaleConflictError,
    ScaleError,
    ScaleOutcomeUnknownError,
    WriteHooks,
)

CONFLICT_BODY = (
    '{"kind":"Status","status":"Failure","message":"Operation cannot be fulfilled on '
    'deployments.apps \\"web\\": the object has been modified; please apply your changes '
    'to the latest version and try again","reason":"Conflict","code":409}'
)


class InlineClients:
    """``ApiClients.call`` without a thread pool: the call runs where it is awaited."""

    server = "https://127.0.0.1:6443"
    timeouts = Timeouts()

    async def call(self, function: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        return function(*args, **kwargs)


class Deployments:
    """What the client is allowed to see of the apiserver's /scale: a recorded fake API."""

    def __init__(self, patch_error: ApiException | None = None) -> None:
        self.patch_error = patch_error
        self.patches: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.gets: list[dict[str, Any]] = []

    def get_namespaced_custom_object_scale(self, *args: Any, **kwargs: Any) -> Any:
        self.gets.append(kwargs)
        return {
            "metadata": {"name": "web", "namespace": "team", "resourceVersion": "4711"},
            "spec": {"replicas": 3},
            "status": {"replicas": 2, "selector": "app=web"},
        }

    def patch_namespaced_custom_object_scale(self, *args: Any, **kwargs: Any) -> Any:
        self.patches.append((args, kwargs))
        if self.patch_error is not None:
            raise self.patch_error
        return {}


class OneKind:
    async def resource_for_kind(self, api_version: str, kind: str) -> ResourceInfo:
        return ResourceInfo("apps", "v1", "deployments", namespaced=True, scalable=True)


def client(api: Deployments, hooks: WriteHooks | None = None) -> ScaleClient:
    return ScaleClient(
        cast(ApiClients, InlineClients()), cast(Discovery, OneKind()), api=api, hooks=hooks
    )


def test_a_read_carries_the_resource_version_which_is_not_part_of_the_value() -> None:
    api = Deployments()
    scale = asyncio.run(client(api).get("team", "apps/v1", "Deployment", "web"))
    assert (scale.spec_replicas, scale.status_replicas, scale.selector) == (3, 2, "app=web")
    assert scale.resource_version == "4711"
    assert scale == Scale(3, 2, "app=web", resource_version="other")
    # No timeout of its own: the clients' default (--api-timeout) applies (test_bounded_calls).
    assert api.gets == [{}]


class CoreKinds:
    async def resource_for_kind(self, api_version: str, kind: str) -> ResourceInfo:
        plural = {"ReplicationController": "replicationcontrollers"}.get(kind, "widgets")
        return ResourceInfo("", "v1", plural, namespaced=True, scalable=True)


def test_a_replication_controller_is_the_core_groups_scale_target() -> None:
    api = Deployments()
    scales = ScaleClient(cast(ApiClients, InlineClients()), cast(Discovery, CoreKinds()), api=api)
    asyncio.run(scales.set_replicas("team", "v1", "ReplicationController", "web", 5, "4711"))
    ((args, _),) = api.patches
    assert args[:5] == ("", "v1", "team", "replicationcontrollers", "web")
    with pytest.raises(ScaleError, match="core-group kind Widget is not supported"):
        asyncio.run(scales.get("team", "v1", "Widget", "web"))


def test_a_write_sends_the_resource_version_it_is_based_on() -> None:
    api = Deployments()
    asyncio.run(client(api).set_replicas("team", "apps/v1", "Deployment", "web", 5, "4711"))
    ((args, kwargs),) = api.patches
    assert args == (
        "apps",
        "v1",
        "team",
        "deployments",
        "web",
        {"spec": {"replicas": 5}, "metadata": {"resourceVersion": "4711"}},
    )
    assert kwargs == {
        "field_manager": "podpilot",
        "_content_type": "application/merge-patch+json",
    }


def test_a_conflict_is_its_own_error_and_other_refusals_are_not() -> None:
    conflict = ApiException(status=409, reason="Conflict")
    conflict.body = CONFLICT_BODY
    with pytest.raises(ScaleConflictError) as raised:
        asyncio.run(
            client(Deployments(conflict)).set_replicas(
                "team", "apps/v1", "Deployment", "web", 5, "4711"
            )
        )
    assert raised.value.reason == "FailedRescale"
    assert str(raised.value).startswith("New size: 5; error: 409 Conflict")
    assert "the object has been modified" in str(raised.value)

    refused = ApiException(status=422, reason="Unprocessable Entity")
    with pytest.raises(ScaleError) as other:
        asyncio.run(
            client(Deployments(refused)).set_replicas(
                "team", "apps/v1", "Deployment", "web", 5, "4711"
            )
        )
    assert not isinstance(other.value, (ScaleConflictError, ScaleOutcomeUnknownError))
    assert other.value.reason == "FailedRescale"


class AnswerLost(Deployments):
    """The patch is applied, then its answer never comes (the read times out)."""

    def patch_namespaced_custom_object_scale(self, *args: Any, **kwargs: Any) -> Any:
        self.patches.append((args, kwargs))
        raise urllib3.exceptions.ReadTimeoutError(None, "/scale", "Read timed out.")


@pytest.mark.parametrize(
    "api",
    [AnswerLost(), Deployments(ApiException(status=504, reason="Gateway Timeout"))],
    ids=["no-answer", "server-timeout"],
)
def test_a_patch_that_may_have_been_applied_says_so(api: Deployments) -> None:
    with pytest.raises(ScaleOutcomeUnknownError) as raised:
        asyncio.run(client(api).set_replicas("team", "apps/v1", "Deployment", "web", 5, "4711"))
    assert raised.value.reason == "FailedRescale"
    assert str(raised.value).startswith("New size: 5; error: ")


def test_a_write_after_a_refused_one_does_not_count_as_this_processs_own() -> None:
    """Only a patch that went through makes the next read skip the watched scale."""
    conflict = ApiException(status=409, reason="Conflict")
    api = Deployments(conflict)
    scales = client(api)
    with pytest.raises(ScaleConflictError):
        asyncio.run(scales.set_replicas("team", "apps/v1", "Deployment", "web", 5, "1"))
    watched = Scale(3, 3, "app=web", resource_version="2")
    assert asyncio.run(scales.get("team", "apps/v1", "Deployment", "web", watched)) is watched
    assert api.gets == []


def test_write_hooks_run_around_the_patch_for_its_namespace() -> None:
    calls: list[str] = []

    async def before(namespace: str) -> None:
        calls.append(f"before {namespace}")

    def after(namespace: str) -> None:
        calls.append(f"after {namespace}")

    api = Deployments()
    hooks = WriteHooks(before_patch=before, after_patch=after)
    asyncio.run(client(api, hooks).set_replicas("team", "apps/v1", "Deployment", "web", 5, "9"))
    assert calls == ["before team", "after team"]
    assert len(api.patches) == 1

    calls.clear()
    failing = client(Deployments(ApiException(status=409, reason="Conflict")), hooks)
    with pytest.raises(ScaleConflictError):
        asyncio.run(failing.set_replicas("team", "apps/v1", "Deployment", "web", 5, "9"))
    assert calls == ["before team"]  # no crash hook after a patch that did not apply


class OneThreadClients:
    """``ApiClients.call`` on a pool of one thread, as a busy pool looks to one more call."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)

    async def call(self, function: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, partial(function, *args, **kwargs))


def test_a_patch_that_waited_for_a_thread_past_a_fence_is_not_sent() -> None:
    api, leading, busy = Deployments(), threading.Event(), threading.Event()
    leading.set()
    clients = OneThreadClients()
    scale = ScaleClient(
        cast(ApiClients, clients), cast(Discovery, OneKind()), api=api, may_write=leading.is_set
    )

    async def scenario() -> ScaleError:
        blocker = asyncio.get_running_loop().run_in_executor(clients.pool, busy.wait, 5.0)
        write = asyncio.ensure_future(
            scale.set_replicas("team", "apps/v1", "Deployment", "web", 5, "1")
        )
        await asyncio.sleep(0.05)  # the patch now waits for the one thread
        leading.clear()  # the Lease is lost meanwhile
        busy.set()
        await blocker
        with pytest.raises(ScaleError) as refused:
            await write
        return refused.value

    try:
        refusal = asyncio.run(scenario())
    finally:
        clients.pool.shutdown()

    assert refusal.reason == "NotLeader"
    assert api.patches == []


def test_a_patch_goes_out_while_may_write_says_so() -> None:
    api = Deployments()
    scale = ScaleClient(
        cast(ApiClients, InlineClients()),
        cast(Discovery, OneKind()),
        api=api,
        may_write=lambda: True,
    )

    asyncio.run(scale.set_replicas("team", "apps/v1", "Deployment", "web", 5, "1"))

    assert len(api.patches) == 1
