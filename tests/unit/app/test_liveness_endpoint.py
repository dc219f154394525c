"""The address ``--health-address`` names is where kopf serves ``/healthz``, an IPv6 one too:
kopf's own health reporter is started on the endpoint podpilot gives it and asked over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import aiohttp
import kopf
import pytest
from kopf._core.engines.indexing import OperatorIndexers
from kopf._core.engines.probing import health_reporter

from podpilot.app import liveness_endpoint
from podpilot.settings import OperatorSettings
from podpilot_dev.ports import free_port


async def health_at(endpoint: str, url: str) -> object:
    ready = asyncio.Event()
    reporter = asyncio.create_task(
        health_reporter(
            endpoint,
            memo=kopf.Memo(),
            indices=OperatorIndexers().indices,
            registry=kopf.OperatorRegistry(),
            settings=kopf.OperatorSettings(),
            ready_flag=ready,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as answer:
            assert answer.status == 200
            return json.loads(await answer.text())
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


@pytest.mark.parametrize(("address", "host"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_kopf_serves_healthz_at_the_address_given(address: str, host: str) -> None:
    port = free_port()
    settings = dataclasses.replace(OperatorSettings(), health_address=address, health_port=port)
    endpoint = liveness_endpoint(settings)
    assert endpoint == f"http://{host}:{port}/healthz"
    assert asyncio.run(health_at(endpoint, endpoint)) == {}
