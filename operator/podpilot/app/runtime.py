"""What every handler shares for the life of the process: settings and API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podpilot.kube.clients import ApiClients
from podpilot.settings import OperatorSettings


@dataclass
class Runtime:
    """Kept in kopf's memo as ``memo.runtime``; filled in by the startup handler."""

    settings: OperatorSettings
    clients: ApiClients | None = None
    services: dict[str, Any] = field(default_factory=dict)

    def api(self) -> ApiClients:
        if self.clients is None:
            raise RuntimeError("API clients are used before the operator's startup finished")
        return self.clients
