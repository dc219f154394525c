"""What the controller reports about itself, as an interface: the process wires podpilot's
own metrics in (``observability.autoscaler_metrics.AutoscalerRecorder``); the controller may
not import observability, hence this Protocol."""

from __future__ import annotations

from typing import Protocol

from podpilot.autoscaler.api.result import EvaluationResult
from podpilot.autoscaler.api.shadow import ShadowTally
from podpilot.autoscaler.api.spec import AutoscalerSpec


class Recorder(Protocol):
    def metric_read(self, source: str, seconds: float, error_kind: str | None) -> None:
        """One metric read; ``error_kind`` from a closed set, None when it succeeded."""
        ...

    def evaluated(
        self,
        namespace: str,
        name: str,
        spec: AutoscalerSpec,
        result: EvaluationResult,
        seconds: float,
        now: float,
        *,
        exposing: bool = True,
    ) -> None:
        """One evaluation that took ``seconds``, evaluated as of ``now``; it also counts the
        unexpected exceptions the result reports (``error_stage``, ``internal_error``).
        ``exposing``: whether the Autoscaler's own series are updated (False once this
        replica no longer acts for it); the process-wide counters always are."""
        ...

    def evaluation_error(self, namespace: str, name: str, stage: str) -> None:
        """An unexpected exception at ``stage`` that ``evaluated`` cannot report (``loop``:
        it escaped the evaluation, from the status write or the events)."""
        ...

    def reaction(self, direction: str, seconds: float) -> None:
        """A rescale, ``seconds`` after the first evaluation that wanted it."""
        ...

    def shadowed(self, namespace: str, name: str, tally: ShadowTally | None) -> None:
        """The shadow tally after an evaluation (None: the Autoscaler shadows no HPA)."""
        ...

    def forget(self, namespace: str, name: str) -> None:
        """The Autoscaler is gone: drop its series."""
        ...


__all__ = ["Recorder"]
