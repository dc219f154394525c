"""kopf handlers of the flannel reporter (registered on import).

kopf's indices hold slim copies of Nodes and flannel's ConfigMap, and the process's pod watch
(``kube.pod_watch``) those of scheduled Pods; every watch event only marks the inputs dirty.
The reconciler task recomputes on a debounce and writes the reports. Nothing here writes to
Nodes, Pods or ConfigMaps.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

import kopf

from podpilot.app.runtime import FlannelParts, Runtime
from podpilot.flannel.controller.reconciler import FlannelReconciler, Indices
from podpilot.flannel.controller.watched_pods import PodsByNode
from podpilot.flannel.engine.model_cache import net_conf_entry, slim_node, slim_pod
from podpilot.observability.flannel_recorder import FlannelMetricsRecorder


def _reconciler(memo: kopf.Memo) -> FlannelReconciler:
    runtime: Runtime = memo.runtime
    return runtime.flannel_parts().reconciler


def configure(settings: kopf.OperatorSettings) -> None:
    """Nothing of kopf's settings is the flannel reporter's own."""


async def start(runtime: Runtime) -> None:
    reconciler = FlannelReconciler(
        runtime.settings.flannel,
        runtime.api,
        recorder=FlannelMetricsRecorder(),
        leader_term=runtime.leader_term,
    )
    pods = PodsByNode(reconciler.pods_changed)
    runtime.pod_watch().subscribe(
        "the flannel reporter", partial(slim_pod, flannel_selector=reconciler.pod_selector), pods
    )
    task = asyncio.create_task(_report(runtime, reconciler), name="flannel-reporter")
    runtime.flannel = FlannelParts(reconciler, task, pods)


async def _report(runtime: Runtime, reconciler: FlannelReconciler) -> None:
    # kopf calls the handlers only once its indices are full; the pods come from elsewhere.
    await runtime.pod_watch().synced()
    await reconciler.run()


async def stop(runtime: Runtime) -> None:
    parts = runtime.flannel
    if parts is not None:
        parts.task.cancel()
        # The reporter may have ended on an error of its own: that is logged, not raised, so
        # the rest of the stop still runs.
        (ended,) = await asyncio.gather(parts.task, return_exceptions=True)
        if isinstance(ended, Exception):
            logging.getLogger(__name__).error("the flannel reporter had stopped: %r", ended)


def _is_net_conf_candidate(
    namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any
) -> bool:
    return _reconciler(memo).config_map.wants(namespace, name)


@kopf.index("", "v1", "nodes")
def flannel_nodes(name: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {name: slim_node(body)}


@kopf.index("", "v1", "configmaps", when=_is_net_conf_candidate)
def flannel_net_conf(
    namespace: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> dict[tuple[str | None, str], tuple[str | None]]:
    return {(namespace, name): (net_conf_entry(body, _reconciler(memo).config_map),)}


def _changed(memo: kopf.Memo, kwargs: dict[str, Any]) -> None:
    runtime: Runtime = memo.runtime
    parts = runtime.flannel_parts()
    parts.reconciler.changed(
        Indices(kwargs["flannel_nodes"], parts.pods, kwargs["flannel_net_conf"])
    )


@kopf.on.event("", "v1", "nodes")
async def flannel_node_event(
    memo: kopf.Memo, name: str, body: kopf.Body, type: str | None, **kwargs: Any
) -> None:
    slim = None if type == "DELETED" else slim_node(body)
    if _reconciler(memo).differs(("node", name), slim):
        _changed(memo, kwargs)


@kopf.on.event("", "v1", "configmaps", when=_is_net_conf_candidate)
async def flannel_configmap_event(memo: kopf.Memo, **kwargs: Any) -> None:
    _changed(memo, kwargs)
