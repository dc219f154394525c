"""Thin kopf handler modules: the only place that imports kopf decorators.

Importing a module registers its handlers, so ``load`` imports only the modules of the
controllers that are enabled.
"""

from __future__ import annotations

import importlib

from podpilot.settings import OperatorSettings

CONTROLLER_MODULES = {
    "autoscaler": "podpilot.app.autoscaler",
    "emptydir": "podpilot.app.emptydir",
    "flannel": "podpilot.app.flannel",
}


def load(settings: OperatorSettings) -> list[str]:
    """Register the lifecycle handlers and those of every enabled controller."""
    from podpilot.app import kopf_readiness

    kopf_readiness.install()  # before kopf starts: linear index readiness for large clusters
    importlib.import_module("podpilot.app.lifecycle")
    loaded = []
    for controller, module in CONTROLLER_MODULES.items():
        if settings.enabled(controller):
            importlib.import_module(module)
            loaded.append(controller)
    return loaded
