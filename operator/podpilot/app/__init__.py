"""Process wiring: the only package that imports kopf.

``run_operator`` registers the handlers of the enabled controllers (importing a module
registers its handlers) and runs kopf. Each controller module also has ``start(runtime)`` and
``stop(runtime)``, which ``app.lifecycle`` calls in one place, in order at start-up and in
reverse at shutdown.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING

from podpilot.settings import OperatorSettings

if TYPE_CHECKING:  # importing this package stays light: the commands import app.logs
    from podpilot.app.hooks import ProcessHooks

CONTROLLER_MODULES = {
    "autoscaler": "podpilot.app.autoscaler",
    "emptydir": "podpilot.app.emptydir",
    "flannel": "podpilot.app.flannel",
}


def enabled_modules(settings: OperatorSettings) -> dict[str, ModuleType]:
    """The handler modules of the enabled controllers, imported (and so registered)."""
    return {
        controller: importlib.import_module(module)
        for controller, module in CONTROLLER_MODULES.items()
        if settings.enabled(controller)
    }


def load(settings: OperatorSettings) -> list[str]:
    """Register the lifecycle handlers and those of every enabled controller."""
    from podpilot.app import kopf_readiness

    kopf_readiness.install()  # before kopf starts: linear index readiness for large clusters
    importlib.import_module("podpilot.app.lifecycle")
    return list(enabled_modules(settings))


def liveness_endpoint(settings: OperatorSettings) -> str:
    """The URL kopf serves ``/healthz`` at; an IPv6 address in brackets, as URLs write it."""
    host = settings.health_address
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.health_port}/healthz"


def kopf_standalone(settings: OperatorSettings) -> bool:
    """kopf runs without its peering when asked to, and whenever the Lease decides who acts:
    kopf picks its active replica by another rule, and the two could disagree (nobody acting)."""
    return settings.standalone or settings.leader_election.enabled


def run_operator(settings: OperatorSettings, hooks: ProcessHooks | None = None) -> int:
    """Run the operator until it is stopped; ``hooks`` only from a test build of the process
    (``app/hooks.py``)."""
    import kopf

    from podpilot.app.hooks import NO_HOOKS
    from podpilot.app.process_tuning import tune_process
    from podpilot.app.runtime import Runtime

    tune_process()  # before any thread starts (see the module)
    loaded = load(settings)
    logging.getLogger("podpilot").info("starting controllers: %s", ", ".join(loaded))
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=kopf_standalone(settings),
        priority=settings.peering_priority,
        # A peering name makes kopf require its peering CRDs, even when standalone.
        peering_name=None if kopf_standalone(settings) else settings.peering_name,
        liveness_endpoint=liveness_endpoint(settings),
        memo=kopf.Memo(runtime=Runtime(settings, hooks or NO_HOOKS)),
    )
    return 0
