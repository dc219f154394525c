"""What the reporter tells the operator's metrics, as a protocol the controller is given.

The controller does not import ``podpilot.observability``: ``podpilot.app.flannel`` passes it
the ``podpilot_flannel_*`` implementation, and tests and benchmarks may pass
:class:`NullRecorder`.
"""

from __future__ import annotations

from typing import Protocol

from podpilot.flannel.engine.report import NetworkReport


class Recorder(Protocol):
    def record_report(self, report: NetworkReport) -> None:
        """Set the gauges (findings, nodes, subnets, utilization, net-conf) from a report."""

    def compute_took(self, seconds: float) -> None:
        """Time spent in ``build_report``."""

    def reconcile_succeeded(self, at: float, total_seconds: float) -> None:
        """A recompute finished at ``at`` (Unix time) after ``total_seconds`` in all."""

    def reconcile_failed(self) -> None:
        """A recompute raised; it will be retried."""

    def report_written(self, kind: str, operation: str) -> None:
        """One API write of a report: ``create``, ``patch-status`` or ``delete``."""

    def events(self, outcome: str, count: int = 1) -> None:
        """Transition Events by outcome: ``posted``, ``suppressed`` or ``failed``."""

    def forget_report(self) -> None:
        """This replica stopped acting: drop the report's series (the acting replica has them),
        so that no alert or dashboard reads a standby's last report."""


class NullRecorder:
    """Records nothing."""

    def record_report(self, report: NetworkReport) -> None:
        pass

    def compute_took(self, seconds: float) -> None:
        pass

    def reconcile_succeeded(self, at: float, total_seconds: float) -> None:
        pass

    def reconcile_failed(self) -> None:
        pass

    def report_written(self, kind: str, operation: str) -> None:
        pass

    def events(self, outcome: str, count: int = 1) -> None:
        pass

    def forget_report(self) -> None:
        pass
