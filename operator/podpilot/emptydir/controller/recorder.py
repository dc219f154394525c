"""What the loop reports about its work, as a protocol the operator's metrics implement.

The loop never imports :mod:`podpilot.observability`: :mod:`podpilot.app.emptydir` hands it
the ``podpilot_emptydir_*`` metrics, which satisfy this protocol.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from podpilot.emptydir.engine.series import GaugeValues, Labels


class AuditRecorder(Protocol):
    def observe_poll(self, node: str, outcome: str, seconds: float | None, at: float) -> None:
        """One Summary poll (``at``: wall-clock seconds of a success)."""

    def forget_nodes(self, present: Collection[str]) -> None:
        """Drop what is known of nodes not in ``present``."""

    def observe_scan(self, seconds: float, pods_audited: int) -> None:
        """How long the last full scan took and how many pods it audited."""

    def publish(self, values: GaugeValues) -> None:
        """This scan's gauge values."""

    def count_evictions(self, label_sets: Iterable[Labels], workloads: Collection[Labels]) -> None:
        """New evictions, and the workloads that still have a report."""

    def observe_cycle(self, seconds: float) -> None:
        """How long the last whole cycle took."""
