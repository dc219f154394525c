"""external.metrics.k8s.io: values of metrics that describe nothing in the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pykube
import requests

from podpilot.apimachinery.quantities import QuantityError, milli_value, parse_quantity
from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.api.proposals import Proposed, metric_selector
from podpilot.autoscaler.api.spec import MetricSpec
from podpilot.autoscaler.sources.base import EvaluationContext, ExternalReadings, MetricSourceError
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery, DiscoveryError

GROUP = "external.metrics.k8s.io"
SUPPORTED_VERSIONS = ("v1beta1",)


@dataclass(frozen=True)
class ExternalQuery:
    namespace: str
    metric: str
    metric_selector: str = ""


class ExternalMetricsSource:
    """The ``external.metrics.k8s.io`` source."""

    api = "external metrics API"

    def __init__(self, clients: ApiClients, discovery: Discovery) -> None:
        self._clients = clients
        self._discovery = discovery
        self.requests_made = 0

    async def read(self, query: ExternalQuery) -> ExternalReadings:
        try:
            version = await self._discovery.negotiate(GROUP, SUPPORTED_VERSIONS)
        except DiscoveryError as error:
            raise MetricSourceError(self.api, str(error)) from error
        params = {"labelSelector": query.metric_selector} if query.metric_selector else {}
        self.requests_made += 1
        items = await self._clients.call(
            self._get, f"{GROUP}/{version}", query.namespace, query.metric, params
        )
        if not items:
            raise MetricSourceError(self.api, f"no metrics returned for {query.metric}")
        values = []
        for item in items:
            try:
                values.append(milli_value(parse_quantity(str(item["value"]))))
            except (KeyError, QuantityError) as error:
                raise MetricSourceError(self.api, f"invalid value in {item!r}") from error
        return ExternalReadings(tuple(values), parse_time(items[0].get("timestamp")) or 0.0)

    def _get(
        self, group_version: str, namespace: str, metric: str, params: Mapping[str, str]
    ) -> list[Mapping[str, Any]]:
        try:
            response = self._clients.pykube.get(
                version=group_version, namespace=namespace, url=metric, params=dict(params)
            )
            self._clients.pykube.raise_for_status(response)
        except (requests.RequestException, pykube.exceptions.HTTPError) as error:
            raise MetricSourceError(self.api, str(error)) from error
        items: list[Mapping[str, Any]] = response.json().get("items", [])
        return items


async def read_external_metric(spec: MetricSpec, context: EvaluationContext) -> Proposed:
    """An External metric: every value the query returned, summed as the HPA does."""
    readings = await context.sources.external.read(
        ExternalQuery(context.namespace, spec.metric_name, metric_selector(spec))
    )
    return context.external_values(spec, readings.values)
