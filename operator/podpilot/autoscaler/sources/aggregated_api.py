"""What the three metrics APIs served through the API server (``metrics.k8s.io``,
``custom.metrics.k8s.io``, ``external.metrics.k8s.io``) share: version negotiation, one GET,
and one quantity value, each failing as a ``MetricSourceError`` naming the API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pykube
import requests

from podpilot.apimachinery.quantities import QuantityError, milli_value
from podpilot.autoscaler.sources.base import MetricSourceError
from podpilot.kube.clients import ApiClients, failure_kind, no_answer
from podpilot.kube.discovery import Discovery, DiscoveryError

T = TypeVar("T")


class AggregatedApiSource:
    """The part every source of these APIs shares: ``api`` names it in errors, ``group`` is
    served in one of ``versions`` (negotiated with discovery), ``requests_made`` counts GETs."""

    api: str
    group: str
    versions: tuple[str, ...]

    def __init__(self, clients: ApiClients, discovery: Discovery) -> None:
        self._clients = clients
        self._discovery = discovery
        self.requests_made = 0

    async def _version(self) -> str:
        """The version of ``group`` to use, from those podpilot supports."""
        try:
            return await self._discovery.negotiate(self.group, self.versions)
        except DiscoveryError as error:
            raise MetricSourceError(self.api, str(error)) from error

    async def _get(
        self, version: str, namespace: str, url: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, Any]:
        """One GET, in the clients' pool: its JSON body."""
        return await self._get_converted(version, namespace, url, _as_is, params)

    async def _get_converted(
        self,
        version: str,
        namespace: str,
        url: str,
        convert: Callable[[Mapping[str, Any]], T],
        params: Mapping[str, str] | None = None,
    ) -> T:
        """One GET whose body ``convert`` turns into its value, in the pool's thread too: a
        large list's conversion then takes turns with the event loop for the GIL, instead of
        holding the loop for its whole length."""
        self.requests_made += 1
        group_version = f"{self.group}/{version}"

        def get_and_convert() -> T:
            document = _get(self._clients, self.api, group_version, namespace, url, params or {})
            return convert(document)

        return await self._clients.call(get_and_convert)


def _as_is(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return document


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
    except (requests.HTTPError, pykube.exceptions.HTTPError) as error:
        raise MetricSourceError(api, str(error)) from error
    except requests.RequestException as error:
        reason = no_answer(error, clients.server, clients.timeouts)
        raise MetricSourceError(api, reason, failure_kind(error)) from error
    try:
        document = response.json()
    except ValueError as error:  # a 200 that is not JSON (a proxy's page, a cut answer)
        text = " ".join(str(error).split())[:200]
        raise MetricSourceError(
            api, f"the answer is not JSON ({type(error).__name__}: {text})", "bad_response"
        ) from None
    if not isinstance(document, Mapping):
        raise MetricSourceError(api, "the answer is not a JSON object", "bad_response")
    return document


def item_milli_value(item: Mapping[str, Any], api: str) -> int:
    """A metric value item's ``value`` quantity, in milli-units."""
    try:
        return milli_value(str(item["value"]))
    except (KeyError, TypeError, QuantityError) as error:
        raise MetricSourceError(
            api, f"invalid value in {repr(item)[:200]}", "bad_response"
        ) from error
