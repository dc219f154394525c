"""How long one namespace's PodMetrics list is shared between the Autoscalers that read it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from podpilot.autoscaler.sources.resource import ResourceMetricsSource, ResourceQuery, _PodUsage

POD_LIST = {"web-1": _PodUsage(timestamp=1.0, window=10.0, containers=(("app", {"cpu": 50}),))}


class CountingSource(ResourceMetricsSource):
    """The real sharing rules over a canned list instead of metrics.k8s.io."""

    def __init__(self, max_age: float) -> None:
        super().__init__(cast(Any, None), cast(Any, None), max_age)
        self.fetches = 0

    async def _fetch(self, namespace: str) -> dict[str, _PodUsage]:
        self.fetches += 1
        await asyncio.sleep(0)
        return dict(POD_LIST)


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
