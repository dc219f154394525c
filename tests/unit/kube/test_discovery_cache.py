"""Discovery remembers "not served" for seconds, "served" for minutes. A real pykube client
reads a real HTTP server on 127.0.0.1 whose answers change; time is an injected clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import kubernetes
import pykube
import pytest
from tests.local_http import Answer, serving

from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import (
    CACHE_SECONDS,
    NEGATIVE_CACHE_SECONDS,
    Discovery,
    DiscoveryError,
)

GROUP_PATH = "/apis/external.metrics.k8s.io"
SERVED: Answer = (
    200,
    json.dumps(
        {"versions": [{"version": "v1beta1"}], "preferredVersion": {"version": "v1beta1"}}
    ).encode(),
)
KIND_PATH = "/apis/example.com/v1"


def resources(*kinds: str) -> Answer:
    items = [{"name": f"{kind.lower()}s", "kind": kind, "namespaced": True} for kind in kinds]
    return 200, json.dumps({"resources": items}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def discovery_of(answers: dict[str, Answer], clock: Clock) -> Iterator[Discovery]:
    with serving(answers) as url:
        pool = ThreadPoolExecutor(2)
        clients = ApiClients(
            kubernetes.client.ApiClient(),
            pykube.HTTPClient(pykube.KubeConfig.from_url(url), timeout=2),
            pool,
            pool,
            kubernetes.client.ApiClient(),
            pool,
        )
        try:
            yield Discovery(clients, clock=clock)
        finally:
            clients.close()


def test_a_group_not_served_is_asked_again_after_the_negative_ttl() -> None:
    answers: dict[str, Answer] = {}  # the APIService is down: 404
    clock = Clock()
    with discovery_of(answers, clock) as discovery:

        async def versions() -> list[str]:
            return await discovery.served_versions("external.metrics.k8s.io")

        assert asyncio.run(versions()) == []
        answers[GROUP_PATH] = SERVED  # the APIService is back
        clock.now += NEGATIVE_CACHE_SECONDS - 1
        assert asyncio.run(versions()) == []  # still the cached "not served"
        clock.now += 1
        assert asyncio.run(versions()) == ["v1beta1"]


def test_a_served_group_keeps_its_long_ttl() -> None:
    answers = {GROUP_PATH: SERVED}
    clock = Clock()
    with discovery_of(answers, clock) as discovery:

        async def versions() -> list[str]:
            return await discovery.served_versions("external.metrics.k8s.io")

        assert asyncio.run(versions()) == ["v1beta1"]
        del answers[GROUP_PATH]
        clock.now += CACHE_SECONDS - 1
        assert asyncio.run(versions()) == ["v1beta1"]  # from the cache
        clock.now += 1
        assert asyncio.run(versions()) == []


def test_a_kind_missing_from_a_served_version_is_looked_up_again_after_the_negative_ttl() -> None:
    answers = {KIND_PATH: resources("Widget")}
    clock = Clock()
    with discovery_of(answers, clock) as discovery:

        async def kind(name: str) -> str:
            return (await discovery.resource_for_kind("example.com/v1", name)).plural

        assert asyncio.run(kind("Widget")) == "widgets"
        answers[KIND_PATH] = resources("Widget", "Gadget")  # a CRD installed since
        clock.now += NEGATIVE_CACHE_SECONDS - 1
        with pytest.raises(DiscoveryError, match="kind Gadget is not served"):
            asyncio.run(kind("Gadget"))
        clock.now += 1
        assert asyncio.run(kind("Gadget")) == "gadgets"
        assert asyncio.run(kind("Widget")) == "widgets"
