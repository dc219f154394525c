"""Where a test build of the process puts a fault that no outside injection can hit at the
right moment (``podpilot_dev.fault_hooks``, run as ``python -m podpilot_dev.operator_with_faults``).
The operator itself has none: ``NO_HOOKS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from podpilot.kube.fencing import MayWrite
from podpilot.kube.scale import WriteHooks

# What an Autoscaler status write asks in place of its ``may_write``; the second argument
# names the Autoscaler (``namespace/name``).
StatusWriteGate = Callable[[MayWrite, str], MayWrite]


def ask_as_is(may_write: MayWrite, what: str) -> MayWrite:
    return may_write


@dataclass(frozen=True)
class ProcessHooks:
    scale_writes: WriteHooks = field(default_factory=WriteHooks)
    status_write_gate: StatusWriteGate = ask_as_is


NO_HOOKS = ProcessHooks()
