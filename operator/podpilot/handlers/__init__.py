"""Thin kopf handler modules: the only place that imports kopf decorators.

Importing a module registers its handlers, so ``load`` imports only the modules of the
controllers that are enabled.
"""

from __future__ import annotations

import importlib

from podpilot.settings import OperatorSettings

CONTROLLER_MODULES = {
    "autoscaler": "podpilot.handlers.autoscaler",
    "emptydir": "podpilot.handlers.emptydir",
    "flannel": "podpilot.handlers.flannel",
}


def load(settings: OperatorSettings) -> list[str]:
    """Register the lifecycle handlers and those of every enabled controller."""
    from podpilot.handlers import kopf_readiness

    kopf_readiness.install()  # before kopf starts: linear index readiness for large clusters
    importlib.import_module("podpilot.handlers.lifecycle")
    loaded = []
    for controller, module in CONTROLLER_MODULES.items():
        if settings.enabled(controller):
            importlib.import_module(module)
            loaded.append(controller)
    return loaded
