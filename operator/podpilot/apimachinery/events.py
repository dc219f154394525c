"""core/v1 Event bodies, built from a pure description of what to say about which object.

Every Event podpilot posts itself is built here; ``podpilot.kube.events`` creates them. The
rules are Kubernetes' own: an Event lives in the namespace of its object, and Events about
cluster-scoped objects (Nodes, cluster-scoped custom resources) go to ``default``, as kubectl
and the kubelet do it. The API server rejects messages longer than 1024 characters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podpilot.apimachinery.timestamps import format_time

CLUSTER_SCOPED_EVENT_NAMESPACE = "default"
MESSAGE_LIMIT = 1024
NAME_SUFFIX_LENGTH = 16


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about; ``namespace`` is None for cluster-scoped objects."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None


@dataclass(frozen=True)
class EventSpec:
    """One Event to post: about ``about``, of ``type`` (Normal, Warning), from ``component``."""

    about: ObjectRef
    type: str
    reason: str
    message: str
    component: str


def event_namespace(about: ObjectRef) -> str:
    """The namespace an Event about ``about`` is created in."""
    return about.namespace or CLUSTER_SCOPED_EVENT_NAMESPACE


def involved_object(about: ObjectRef) -> dict[str, str]:
    """The ``involvedObject`` reference; uid and namespace only when known."""
    involved = {"apiVersion": about.api_version, "kind": about.kind, "name": about.name}
    if about.namespace:
        involved["namespace"] = about.namespace
    if about.uid:
        involved["uid"] = about.uid
    return involved


def name_suffix() -> str:
    """A random suffix that makes an Event name unique (Events are never updated in place)."""
    return uuid.uuid4().hex[:NAME_SUFFIX_LENGTH]


def event_body(spec: EventSpec, now: datetime, suffix: str | None = None) -> dict[str, Any]:
    """The core/v1 Event for ``spec``, first and last seen ``now``, seen once.

    Args:
        spec: What the Event says about which object.
        now: When it happened (an aware datetime; written to the second, in UTC).
        suffix: The name suffix; a random one (:func:`name_suffix`) when None.
    """
    stamp = format_time(now.timestamp())
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{spec.about.name}.{suffix or name_suffix()}",
            "namespace": event_namespace(spec.about),
        },
        "involvedObject": involved_object(spec.about),
        "type": spec.type,
        "reason": spec.reason,
        "message": spec.message[:MESSAGE_LIMIT],
        "source": {"component": spec.component},
        "reportingComponent": spec.component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
