"""What the three metrics APIs served through the API server (``metrics.k8s.io``,
``custom.metrics.k8s.io``, ``external.metrics.k8s.io``) share: version negotiation, one GET,
and one quantity value, each failing as a ``MetricSourceError`` naming the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pykube
import requests

from podpilot.apimachinery.quantities import QuantityError, milli_value, parse_quantity
from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.kube.clients import ApiClients
from podpilot.kube.discovery import Discovery, DiscoveryError


async def negotiate_version(
    discovery: Discovery, api: str, group: str, supported: tuple[str, ...]
) -> str:
    """The version of ``group`` to use, from those podpilot supports."""
    try:
        return await discovery.negotiate(group, supported)
    except DiscoveryError as error:
        raise MetricSourceError(api, str(error)) from error


async def get_document(
    clients: ApiClients,
    api: str,
    group_version: str,
    namespace: str,
    url: str,
    params: Mapping[str, str] | None = None,
) -> Mapping[str, Any]:
    """One GET, in the clients' pool: its JSON body."""
    return await clients.call(_get, clients, api, group_version, namespace, url, params or {})


def _get(
    clients: ApiClients,
    api: str,
    group_version: str,
    namespace: str,
    url: str,
    params: Mapping[str, str],
) -> Mapping[str, Any]:
    try:
        response = clients.pykube.get(
            version=group_version, namespace=namespace, url=url, params=dict(params)
        )
        clients.pykube.raise_for_status(response)
    except (requests.RequestException, pykube.exceptions.HTTPError) as error:
        raise MetricSourceError(api, str(error)) from error
    document: Mapping[str, Any] = response.json()
    return document


def item_milli_value(item: Mapping[str, Any], api: str) -> int:
    """A metric value item's ``value`` quantity, in milli-units."""
    try:
        return milli_value(parse_quantity(str(item["value"])))
    except (KeyError, QuantityError) as error:
        raise MetricSourceError(api, f"invalid value in {item!r}") from error
