"""The ``ScaledToZero`` condition: who put the target at zero replicas. Pure.

Upstream's HPA (KEP-2021, ``HPAScaleToZero``) sets ``ScaledToZero=True`` when it scales a
workload to zero itself, so that a workload at zero can be told apart from one a person
turned off. podpilot does the same for every cluster version, and also says when the zero
is someone else's:

========  ==========================  ====================================================
status    reason                      when
========  ==========================  ====================================================
True      ``ScaledToZero``            this Autoscaler's own ``/scale`` patch set 0 (scale to
                                      zero after the cooldown), and the target is still at 0
False     ``ExternallyScaledToZero``  the target is at 0, but not by this Autoscaler: a
                                      ``kubectl scale``, a deployment tool, another
                                      controller, or a DryRun or paused Autoscaler (which
                                      never patches)
False     ``ScaledFromZero``          this evaluation scaled the target up from 0
False     ``AboveZero``               ``minReplicas: 0`` and the target has replicas
========  ==========================  ====================================================

An Autoscaler whose ``minReplicas`` is not 0 and whose target has replicas has no such
condition. Who set the zero is remembered from one evaluation to the next (``Memory.zeroed``)
and, across restarts, read back from the condition itself; a zero set by someone else
between two evaluations, after the Autoscaler's own, is not seen.
"""

from __future__ import annotations

from podpilot.autoscaler.api.result import StatusCondition

SCALED_TO_ZERO = "ScaledToZero"


def at_zero(zeroed: bool) -> StatusCondition:
    """The target is at zero: by this Autoscaler (``zeroed``) or by someone else."""
    if zeroed:
        return StatusCondition(
            SCALED_TO_ZERO, True, "ScaledToZero", "the Autoscaler scaled the target to zero"
        )
    return StatusCondition(
        SCALED_TO_ZERO,
        False,
        "ExternallyScaledToZero",
        "the target was set to 0 replicas by someone other than this Autoscaler",
    )


def condition(current: int, zeroed: bool, min_replicas: int | None) -> StatusCondition | None:
    """``ScaledToZero`` for a target found at ``current`` replicas; ``min_replicas`` None
    when unknown (an evaluation that decided nothing): then only a zero is reported."""
    if current == 0:
        return at_zero(zeroed)
    if min_replicas == 0:
        return StatusCondition(
            SCALED_TO_ZERO, False, "AboveZero", f"the target has {current} replicas"
        )
    return None


def after_rescale(current: int, desired: int) -> StatusCondition | None:
    """``ScaledToZero`` once this Autoscaler's patch from ``current`` to ``desired`` applied."""
    if desired == 0:
        return at_zero(True)
    if current == 0:
        return StatusCondition(
            SCALED_TO_ZERO,
            False,
            "ScaledFromZero",
            f"the Autoscaler scaled the target from zero to {desired}",
        )
    return None


__all__ = ["SCALED_TO_ZERO", "after_rescale", "at_zero", "condition"]
