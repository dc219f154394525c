"""What every handler shares for the life of the process: settings, API clients, and the
running parts of each enabled controller, each under its own typed field."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from podpilot.autoscaler.controller.loop import Controller
from podpilot.autoscaler.controller.object_watches import ObjectWatches
from podpilot.emptydir.controller.loop import EmptyDirController
from podpilot.emptydir.engine.eviction_log import EvictionLog
from podpilot.flannel.controller.reconciler import FlannelReconciler
from podpilot.kube.clients import ApiClients
from podpilot.kube.events import EventPoster
from podpilot.settings import OperatorSettings


@dataclass
class AutoscalerParts:
    controller: Controller
    watches: ObjectWatches
    events: EventPoster


@dataclass
class EmptyDirParts:
    evictions: EvictionLog
    # Built by the policy daemon on its first cycle: no EmptyDirAuditPolicy, nothing polled.
    controller: EmptyDirController | None = None


@dataclass
class FlannelParts:
    reconciler: FlannelReconciler
    task: asyncio.Task[None]


@dataclass
class Runtime:
    """Kept in kopf's memo as ``memo.runtime``; filled in by the startup handler."""

    settings: OperatorSettings
    clients: ApiClients | None = None
    autoscaler: AutoscalerParts | None = None
    emptydir: EmptyDirParts | None = None
    flannel: FlannelParts | None = None

    def api(self) -> ApiClients:
        if self.clients is None:
            raise RuntimeError("API clients are used before the operator's startup finished")
        return self.clients

    def autoscaler_parts(self) -> AutoscalerParts:
        if self.autoscaler is None:
            raise RuntimeError("the Autoscaler controller is used before its start")
        return self.autoscaler

    def emptydir_parts(self) -> EmptyDirParts:
        if self.emptydir is None:
            raise RuntimeError("the emptyDir audit is used before its start")
        return self.emptydir

    def flannel_parts(self) -> FlannelParts:
        if self.flannel is None:
            raise RuntimeError("the flannel reporter is used before its start")
        return self.flannel
