"""Answers of the aggregated metrics APIs that used to escape as unexpected exceptions (a 200
that is not JSON, a quantity with a huge exponent) are source failures naming the API. A real
pykube client talks to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import kubernetes
import pykube
import pytest
from tests.local_http import serving

from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.autoscaler.sources.external import ExternalMetricsSource, ExternalQuery
from podpilot.autoscaler.sources.resource import ResourceMetricsSource, ResourceQuery
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery

GROUP_PATH = "/apis/external.metrics.k8s.io"
METRIC_PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/queue"
GROUP = {
    "kind": "APIGroup",
    "name": "external.metrics.k8s.io",
    "versions": [{"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}],
    "preferredVersion": {"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"},
}


@contextmanager
def clients_for(url: str) -> Iterator[ApiClients]:
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
        yield clients
    finally:
        clients.close()


def external_read(metric_answer: tuple[int, bytes]) -> Any:
    answers = {GROUP_PATH: (200, json.dumps(GROUP).encode()), METRIC_PATH: metric_answer}
    with serving(answers) as url, clients_for(url) as clients:
        source = ExternalMetricsSource(clients, Discovery(clients))
        return asyncio.run(source.read(ExternalQuery("ns", "queue")))


def items(value: Any) -> bytes:
    return json.dumps({"items": [{"metricName": "queue", "value": value}]}).encode()


def test_a_served_value_is_read() -> None:
    assert external_read((200, items("1500m"))).values == (1500,)


def test_a_huge_exponent_saturates_as_milli_value_does() -> None:
    assert external_read((200, items("1e999999999"))).values == (2**63 - 1,)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((200, b"<html>upstream connect error</html>"), "not JSON"),
        ((200, b"[1, 2]"), "not a JSON object"),
        ((200, items("1e99999999999999999999")), "invalid value"),
        ((200, items({"nested": "object"})), "invalid value"),
    ],
)
def test_an_unusable_answer_is_a_bad_response_naming_the_api(
    answer: tuple[int, bytes], words: str
) -> None:
    with pytest.raises(MetricSourceError) as raised:
        external_read(answer)
    assert raised.value.kind == "bad_response"
    assert "external metrics API" in str(raised.value) and words in str(raised.value)
    assert len(str(raised.value)) < 500


RESOURCE_GROUP_PATH = "/apis/metrics.k8s.io"
POD_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods"


def pod_metrics(name: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}},
        "timestamp": "2026-12-04T16:29:55Z",
        "window": "15.012s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }


def test_a_pod_metrics_list_is_read_and_converted_to_milli_units() -> None:
    group = json.loads(json.dumps(GROUP).replace("external.metrics", "metrics"))
    body = {"items": [pod_metrics("a", "250000001n", "1Ki"), pod_metrics("b", "1.5", "2Mi")]}
    answers = {
        RESOURCE_GROUP_PATH: (200, json.dumps(group).encode()),
        POD_METRICS_PATH: (200, json.dumps(body).encode()),
    }
    with serving(answers) as url, clients_for(url) as clients:
        source = ResourceMetricsSource(clients, Discovery(clients))
        cpu = asyncio.run(source.read(ResourceQuery("ns", "cpu"))).samples
        memory = asyncio.run(source.read(ResourceQuery("ns", "memory"))).samples
    assert {name: sample.value for name, sample in cpu.items()} == {"a": 251, "b": 1500}
    assert {name: sample.value for name, sample in memory.items()} == {
        "a": 1024 * 1000,
        "b": 2 * 1024 * 1024 * 1000,
    }
    assert cpu["a"].window == 15.012
    assert cpu["a"].timestamp == 1796401795.0
