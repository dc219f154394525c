"""How long one namespace's PodMetrics list is shared between the Autoscalers that read it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.resource import (
    ASKED_QUERY_TTL,
    PodMetricsList,
    ResourceMetricsSource,
    ResourceQuery,
    converted_list,
)

POD_METRICS_LIST = {
    "items": [
        {
            "metadata": {"name": "web-1"},
            "timestamp": "2026-12-04T10:00:00Z",
            "window": "10s",
            "containers": [{"name": "app", "usage": {"cpu": "50m"}}],
        }
    ]
}


class CountingSource(ResourceMetricsSource):
    """The real sharing rules and the real ``_fetch`` over a canned answer instead of
    metrics.k8s.io."""

    def __init__(self, max_age: float, answer: Mapping[str, Any] = POD_METRICS_LIST) -> None:
        super().__init__(cast(Any, None), cast(Any, None), max_age)
        self.answer = answer
        self.fetches = 0
        self.ahead_of_each_list: list[set[tuple[str, str]]] = []

    async def _version(self) -> str:
        return "v1beta1"

    async def _get_converted(  # type: ignore[override]
        self,
        version: str,
        namespace: str,
        url: str,
        convert: Callable[[Mapping[str, Any]], PodMetricsList],
        params: Mapping[str, str] | None = None,
    ) -> PodMetricsList:
        self.fetches += 1
        await asyncio.sleep(0)
        listed = convert(self.answer)
        self.ahead_of_each_list.append(set(listed.readings))
        return listed


def reads(source: CountingSource, *queries: ResourceQuery, pause: float = 0.0) -> int:
    async def run() -> None:
        for query in queries:
            await source.read(query)
            await asyncio.sleep(pause)

    asyncio.run(run())
    return source.fetches


def test_readers_within_the_source_max_age_share_one_list() -> None:
    source = CountingSource(max_age=5.0)
    query = ResourceQuery("shop", "cpu")
    assert reads(source, query, query, query) == 1


def test_a_reader_asking_for_a_younger_list_gets_a_new_one() -> None:
    source = CountingSource(max_age=5.0)
    young = ResourceQuery("shop", "cpu", max_age=0.05)
    assert reads(source, young, young, pause=0.1) == 2


def test_a_reader_cannot_stretch_the_source_max_age() -> None:
    source = CountingSource(max_age=0.05)
    lenient = ResourceQuery("shop", "cpu", max_age=60.0)
    assert reads(source, lenient, lenient, pause=0.1) == 2


def test_max_age_is_not_part_of_what_is_asked() -> None:
    assert ResourceQuery("shop", "cpu", max_age=2.5) == ResourceQuery("shop", "cpu")
    assert hash(ResourceQuery("shop", "cpu", max_age=2.5)) == hash(ResourceQuery("shop", "cpu"))


def test_each_list_computes_a_querys_readings_once_and_the_next_list_ahead() -> None:
    source = CountingSource(max_age=0.05)
    cpu, app_cpu = ResourceQuery("shop", "cpu"), ResourceQuery("shop", "cpu", "app")

    async def run() -> None:
        first = await source.read(cpu)
        assert await source.read(cpu) is first  # the same list: computed once
        await asyncio.sleep(0.1)
        await source.read(cpu)
        await source.read(app_cpu)
        await asyncio.sleep(0.1)
        await source.read(cpu)

    asyncio.run(run())
    assert source.ahead_of_each_list == [set(), {("cpu", "")}, {("cpu", ""), ("cpu", "app")}]


def test_a_query_not_asked_for_a_while_is_no_longer_computed_ahead() -> None:
    source = CountingSource(max_age=0.01)
    now = [1000.0]
    source.clock = lambda: now[0]
    cpu, app_cpu = ResourceQuery("shop", "cpu"), ResourceQuery("shop", "cpu", "app")

    async def run() -> None:
        await source.read(app_cpu)  # then its Autoscaler is gone
        for seconds in (ASKED_QUERY_TTL - 1, 2, 1):
            now[0] += seconds
            await asyncio.sleep(0.05)  # the list is older than the source's max_age
            await source.read(cpu)

    asyncio.run(run())
    assert source.ahead_of_each_list == [
        set(),
        {("cpu", "app")},  # asked ASKED_QUERY_TTL - 1 s ago
        {("cpu", "")},  # ("cpu", "app") asked ASKED_QUERY_TTL + 1 s ago: dropped
        {("cpu", "")},
    ]


def test_a_list_without_the_resource_fails_every_read_of_it() -> None:
    source = CountingSource(max_age=5.0)
    memory = ResourceQuery("shop", "memory")

    async def run() -> None:
        for _ in range(2):
            with pytest.raises(MetricSourceError, match="no metrics returned for resource memory"):
                await source.read(memory)

    asyncio.run(run())
    assert source.fetches == 1


def test_a_converted_list_carries_the_readings_asked_of_its_namespace() -> None:
    document = {
        "items": [
            {
                "metadata": {"name": "web-1"},
                "timestamp": "2026-12-04T10:00:00Z",
                "window": "15s",
                "containers": [
                    {"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}},
                    {"name": "proxy", "usage": {"cpu": "50m", "memory": "16Mi"}},
                ],
            }
        ]
    }
    listed = converted_list(document, asked={("cpu", ""), ("memory", "proxy")})
    assert listed.readings.keys() == {("cpu", ""), ("memory", "proxy")}
    assert listed.readings[("cpu", "")].samples["web-1"].value == 300
    assert listed.readings[("memory", "proxy")].samples["web-1"].value == 16 * 2**20 * 1000
    assert listed.readings[("cpu", "")].samples["web-1"].window == 15.0
