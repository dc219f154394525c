"""kopf handlers of the emptydir controller (registered on import).

Pods with an emptyDir come from the process's pod watch (``kube.pod_watch``); nodes and
namespaces are mirrored into kopf indices (slim copies, no LIST per scan). One daemon, on the
``EmptyDirAuditPolicy`` named ``default``, runs the cycles of
:class:`podpilot.emptydir.controller.loop.EmptyDirController`: no policy, no polling. The
kubelet's ``Evicted`` Events are kept in a bounded log, with a copy of the pod from the pod
watch, so an eviction is still traced after its pod is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import kopf

from podpilot.apimachinery.group import GROUP, VERSION
from podpilot.apimachinery.leader_election import Term
from podpilot.app.runtime import EmptyDirParts, Runtime
from podpilot.emptydir.api.events import finding_event
from podpilot.emptydir.api.policy import POLICY_NAME, parse_policy
from podpilot.emptydir.api.report_objects import POLICIES
from podpilot.emptydir.controller.loop import Announce, EmptyDirController
from podpilot.emptydir.controller.poller import fetchers
from podpilot.emptydir.controller.watched_pods import AuditedPods, audited_pod
from podpilot.emptydir.engine.eviction_log import EvictionLog, notice_from_event
from podpilot.emptydir.engine.model import Finding
from podpilot.emptydir.engine.objects import NodeInfo, node_info
from podpilot.kube.clients import ApiClients
from podpilot.kube.events import EventPoster
from podpilot.kube.fencing import MayWrite
from podpilot.observability.emptydir_metrics import emptydir_metrics

EVICTED_EVENTS = "reason=Evicted,involvedObject.kind=Pod"
"""Server-side filter of the Event watch: only kubelet evictions of pods reach the operator."""
STANDBY_POLL_SECONDS = 1.0
"""How often the audit of a replica that is not the leader looks whether it has become one."""


def configure(settings: kopf.OperatorSettings) -> None:
    # Applies to every watch of core Events in this process; no other podpilot handler
    # watches them (kopf itself only posts Events).
    settings.watching.field_selectors["v1", "events"] = EVICTED_EVENTS


async def start(runtime: Runtime) -> None:
    if runtime.settings.kubelet.insecure_tls:
        logging.getLogger(__name__).warning(
            "--kubelet-insecure-tls: kubelet serving certificates are not verified; whoever "
            "answers on a node's address receives this operator's credentials"
        )
    pods = AuditedPods()
    runtime.pod_watch().subscribe("the emptyDir audit", audited_pod, pods)
    runtime.emptydir = EmptyDirParts(evictions=EvictionLog(), pods=pods)


async def stop(runtime: Runtime) -> None:
    """Nothing to close: the policy daemon ends with kopf, and the log lives in memory."""


@kopf.on.event("v1", "events")
async def emptydir_evicted(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    if type == "DELETED":
        return  # the Event expired; the log keeps the eviction for its own TTL
    now = datetime.now(UTC)
    notice = notice_from_event(body, now)
    if notice is None:
        return
    parts = memo.runtime.emptydir_parts()
    copy = parts.pods.by_uid(notice.pod.uid)
    parts.evictions.record(replace(notice, snapshot=copy), now)


@kopf.index("nodes")
def emptydir_nodes(body: kopf.Body, name: str, **_: Any) -> dict[str, NodeInfo]:
    return {name: node_info(body)}


@kopf.index("namespaces")
def emptydir_namespaces(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


async def _pods_listed(runtime: Runtime, stopped: kopf.DaemonStopped) -> bool:
    """Wait for the pod watch's first complete list; False if the daemon is stopped first."""
    while not stopped:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STANDBY_POLL_SECONDS):
                await runtime.pod_watch().synced()
            return True
    return False


def _announcer(api: ApiClients) -> Announce:
    """Posts a cycle's transition Events on their pods (see ``emptydir.api.events``)."""
    poster = EventPoster(api)

    async def announce(findings: Sequence[Finding], may_write: MayWrite) -> None:
        events = [finding_event(f) for f in findings]
        await poster.post_all(events, datetime.now(UTC), may_write=may_write)

    return announce


def _in_term(runtime: Runtime, term: Term) -> bool:
    """Whether this replica still leads in ``term``: a loss and a regain, however quick, end
    it (the other leader may have written meanwhile)."""
    return runtime.leader_term() == term


def _is_default(name: str, **_: Any) -> bool:
    return name == POLICY_NAME


@kopf.daemon(GROUP, VERSION, POLICIES, when=_is_default, cancellation_timeout=10)
async def emptydir_audit(
    spec: kopf.Spec,
    meta: kopf.Meta,
    name: str,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    nodes: kopf.Index[str, NodeInfo] = kwargs["emptydir_nodes"]
    namespaces: kopf.Index[str, dict[str, str]] = kwargs["emptydir_namespaces"]
    runtime: Runtime = memo.runtime
    api = runtime.api()
    parts = runtime.emptydir_parts()

    if parts.fetchers is None:
        parts.fetchers = fetchers(api, runtime.settings.kubelet)
    summaries = parts.fetchers

    def fresh_controller(term: Term) -> EmptyDirController:
        return EmptyDirController(
            api=api,
            fetchers=summaries,
            metrics=emptydir_metrics(),
            announce=_announcer(api),
            may_write=partial(_in_term, runtime, term),
            namespaces=runtime.settings.namespaces,
            evictions=parts.evictions,
            evicted=parts.evicted,  # a pod counted once is not counted again on a new term
        )

    # kopf waits for its own indices before it starts a daemon, not for the pod watch.
    if not await _pods_listed(runtime, stopped):
        return
    leading = False
    try:
        while not stopped:
            term = runtime.leader_term()
            if term is None:
                # Not the leader: no kubelet polls, no report writes, no Events, and none of
                # its last scan's series beside the leader's.
                if leading:
                    emptydir_metrics().forget_scan()
                leading = False
                await stopped.wait(STANDBY_POLL_SECONDS)
                continue
            leading = True
            controller = parts.controller
            if controller is None or not controller.may_write():
                # A new term: seed again from the reports the previous leader wrote.
                controller = parts.controller = fresh_controller(term)
            policy = parse_policy(spec)  # a live view: edits apply from the next cycle
            if policy.problems:
                logger.warning("EmptyDirAuditPolicy problems: %s", "; ".join(policy.problems))
            await controller.step(
                policy,
                pods=parts.pods.all(),
                nodes={n: info for n, store in nodes.items() for info in store},
                namespace_labels={n: labels for n, store in namespaces.items() for labels in store},
                policy_name=name,
                generation=meta.get("generation"),
            )
            await stopped.wait(policy.poll_interval.total_seconds())
    finally:
        # The policy went, or the operator stops or pauses: no scan is current any more.
        emptydir_metrics().forget_scan()
