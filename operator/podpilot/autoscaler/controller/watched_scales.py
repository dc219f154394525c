"""A Deployment's scale as its watch delivers it: what ``GET .../scale`` would answer.

Reading the replica count and pod selector from the Deployment watch spares one ``GET /scale``
per evaluation (2,000 requests per period at 2,000 Autoscalers). Other kinds have no watch
here and are read through ``/scale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podpilot.apimachinery.selectors import (
    Selector,
    SelectorError,
    format_selector,
    selector_from_object,
)
from podpilot.kube.scale import Scale

WATCHED_KINDS = frozenset({("apps/v1", "Deployment")})


def apiserver_selector_text(selector: Mapping[str, Any] | None) -> str:
    """``metav1.LabelSelectorAsSelector(...).String()``: requirements sorted by key, the values
    of ``in``/``notin`` sorted, as the apiserver writes ``status.selector`` of a Scale."""
    parsed = selector_from_object(selector)
    return format_selector(Selector(tuple(sorted(parsed.requirements, key=lambda r: r.key))))


def deployment_scale(deployment: Mapping[str, Any]) -> Scale | None:
    """The Scale the apiserver derives from this Deployment, with its resourceVersion (a
    Scale's is its Deployment's); None when its selector cannot be rendered (then ``/scale``
    is asked, and reports the problem as the HPA would see it)."""
    spec: Mapping[str, Any] = deployment.get("spec") or {}
    status: Mapping[str, Any] = deployment.get("status") or {}
    metadata: Mapping[str, Any] = deployment.get("metadata") or {}
    try:
        selector = apiserver_selector_text(spec.get("selector"))
    except (SelectorError, KeyError):
        return None
    return Scale(
        spec_replicas=int(spec.get("replicas", 1)),
        status_replicas=int(status.get("replicas", 0)),
        selector=selector,
        resource_version=str(metadata.get("resourceVersion") or ""),
    )
