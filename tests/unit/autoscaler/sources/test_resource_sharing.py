"""How long one namespace's PodMetrics list is shared between the Autoscalers that read it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from podpilot.autoscaler.sources.resource import (
    PodMetricsList,
    ResourceMetricsSource,
    ResourceQuery,
    _PodUsage,
    converted_list,
)

POD_LIST = {"web-1": _PodUsage(timestamp=1.0, window=10.0, containers=(("app", {"cpu": 50}),))}


class CountingSource(ResourceMetricsSource):
    """The real sharing rules over a canned list instead of metrics.k8s.io."""

    def __init__(self, max_age: float) -> None:
        super().__init__(cast(Any, None), cast(Any, None), max_age)
        self.fetches = 0
        self.asked_of_each_list: list[frozenset[tuple[str, str]]] = []

    async def _fetch(self, namespace: str) -> PodMetricsList:
        self.fetches += 1
        self.asked_of_each_list.append(frozenset(self._asked.get(namespace, ())))
        await asyncio.sleep(0)
        return PodMetricsList(dict(POD_LIST))


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
    assert source.asked_of_each_list == [
        frozenset(),
        {("cpu", "")},
        {("cpu", ""), ("cpu", "app")},
    ]


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
