"""A spec change ends an Autoscaler's wait between evaluations, as upstream's HPA reconciles
at once when an HPA is created or its spec changes (Kubernetes 1.35+), instead of up to one
period later.

The Autoscaler's loop stays the only place that evaluates, so an Autoscaler is never evaluated
twice at once: a change that arrives during an evaluation only makes the next one start as
soon as this one ends. Only a new ``metadata.generation`` wakes it (a status write, a label or
an annotation does not), and never sooner than ``MIN_WAKE_INTERVAL`` after the evaluation
before, so a stream of edits cannot turn into a stream of evaluations. An extra evaluation
changes nothing of the rules: its recommendation joins the same stabilization history, and
the behavior policies count the scale events of their own periods, however often they are
asked.
"""

from __future__ import annotations

from .signals import Signal, StopFlag, sleep_until

MIN_WAKE_INTERVAL = 1.0
"""Seconds from the start of an evaluation to the earliest evaluation a spec change starts."""


class Wakeup:
    """One Autoscaler's: set by a spec change its last evaluation did not see."""

    def __init__(self) -> None:
        self._changed = Signal()
        self.evaluated_generation: int | None = None

    def evaluating(self, generation: int | None) -> None:
        """An evaluation starts with the spec of ``generation``: a change signalled before
        is already in it."""
        self.evaluated_generation = generation
        self._changed.clear()

    def spec_changed(self, generation: int | None) -> None:
        """The object was seen at ``generation``: wake the loop unless that spec was (or is
        being) evaluated."""
        if generation is not None and generation != self.evaluated_generation:
            self._changed.set()

    @property
    def pending(self) -> bool:
        return self._changed.is_set()

    async def sleep(self, stopped: StopFlag, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when a spec change ended the wait (not the
        timeout, nor ``stopped``)."""
        await sleep_until(timeout, self._changed, stopped.signal)
        return self._changed.is_set() and not stopped


class Wakeups:
    """Every running Autoscaler loop's ``Wakeup``, by (namespace, name); the watch handler
    signals the one whose object changed."""

    def __init__(self) -> None:
        self._loops: dict[tuple[str, str], Wakeup] = {}

    def register(self, namespace: str, name: str) -> Wakeup:
        wakeup = self._loops.setdefault((namespace, name), Wakeup())
        return wakeup

    def release(self, namespace: str, name: str) -> None:
        self._loops.pop((namespace, name), None)

    def spec_changed(self, namespace: str, name: str, generation: int | None) -> None:
        """A watch event of the Autoscaler: no loop running (not yet started, or ended) is
        nothing to wake; a starting loop evaluates at once anyway."""
        wakeup = self._loops.get((namespace, name))
        if wakeup is not None:
            wakeup.spec_changed(generation)


__all__ = ["MIN_WAKE_INTERVAL", "Wakeup", "Wakeups"]
