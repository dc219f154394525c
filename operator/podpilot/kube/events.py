"""Creates core/v1 Events through the official client, in the client pool, never failing its caller.

Events are helpful but auxiliary: an Event the API server refuses, or one that times out, is
logged and counted (outcome ``failed``), and the caller's loop goes on. The one exception is a
fenced caller: an Event its ``may_write`` refuses raises ``WriteNotAllowedError``
(``kube.fencing``), neither sent nor counted, so that the caller stops. The bodies come from
:func:`podpilot.apimachinery.events.event_body`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

import urllib3
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from podpilot.apimachinery.api_status import NAMESPACE_TERMINATING, cause_types, server_error
from podpilot.apimachinery.events import EventSpec, event_body
from podpilot.kube.clients import ApiClients, Timeouts
from podpilot.kube.fencing import MayWrite, always, send_if_allowed, write_all

log = logging.getLogger(__name__)

EVENT_READ_TIMEOUT = 10.0
"""Seconds to connect and to read the answer of one Event create."""
CONCURRENCY = 8
"""Event creates in flight at once, per :meth:`EventPoster.post_all`."""

Outcome = Callable[[str], None]
"""Told ``posted`` or ``failed`` once per Event."""


def _ignore(outcome: str) -> None:
    pass


def event_request(
    core: CoreV1Api,
    spec: EventSpec,
    now: datetime,
    request_timeout: tuple[float, float] | None = None,
) -> Callable[[], object]:
    """The create of the Event ``spec`` describes, in its object's namespace, as a call to
    make: with the clients' default timeouts unless ``request_timeout``. The one Event write
    of the operator (:class:`EventPoster`) and of the takeover command."""
    body = event_body(spec, now)
    # The client takes a plain dict for the body as well as its model classes.
    create: Callable[..., object] = core.create_namespaced_event
    return partial(create, body["metadata"]["namespace"], body, _request_timeout=request_timeout)


class EventPoster:
    """Posts Events described by :class:`~podpilot.apimachinery.events.EventSpec`."""

    def __init__(
        self,
        clients: ApiClients,
        *,
        record: Outcome = _ignore,
        request_timeout: tuple[float, float] | None = None,
    ) -> None:
        self._clients = clients
        self._core = CoreV1Api(clients.kubernetes)
        self._record = record
        # Events are best effort: never wait on one longer than on any other call, and at
        # most 10 s, so a slow Event write does not hold up the evaluation that posts it.
        self._timeout = (
            request_timeout
            or Timeouts.reading(min(EVENT_READ_TIMEOUT, clients.timeouts.read)).pair()
        )

    async def post(self, spec: EventSpec, now: datetime, *, may_write: MayWrite = always) -> bool:
        """Create one Event; whether the API server accepted it. ``may_write`` is asked in the
        pool's thread, right before the request."""
        create = event_request(self._core, spec, now, self._timeout)
        try:
            await self._clients.call(send_if_allowed, may_write, create)
        except ApiException as error:
            if NAMESPACE_TERMINATING in cause_types(error):
                # Refused because the namespace is being deleted, and the object with it: no
                # fault of anyone's, and no warning at every evaluation until the object goes.
                log.debug("Event %s not posted: its namespace is being deleted", spec.reason)
            else:
                log.warning("could not post Event %s: %s", spec.reason, server_error(error))
        except (urllib3.exceptions.HTTPError, OSError) as error:
            log.warning("could not post Event %s: %s", spec.reason, error)
        else:
            self._record("posted")
            return True
        self._record("failed")
        return False

    async def post_all(
        self, specs: Iterable[EventSpec], now: datetime, *, may_write: MayWrite = always
    ) -> None:
        """Create several Events, ``CONCURRENCY`` at a time; ``WriteNotAllowedError``, once
        all of them ended, if ``may_write`` refused one."""
        await write_all(
            [partial(self.post, spec, now, may_write=may_write) for spec in specs], CONCURRENCY
        )
