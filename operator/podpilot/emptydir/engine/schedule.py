"""When each node's Summary API is due: a fixed interval with jitter, exponential backoff.

Pure: the clock and the random source are arguments.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from podpilot.apimachinery.backoff import exponential_delay

MAX_BACKOFF_SECONDS = 600.0
"""Cap of the per-node backoff (10 min, from the spec)."""

MAX_DOUBLINGS = 16
"""Doublings stop here even below the cap (only an interval under 10 ms gets there)."""

JITTER = 0.1
"""Each delay is stretched or shrunk by up to this fraction, so polls do not synchronise."""


@dataclass
class PollSchedule:
    """Next due time and consecutive failures per node (monotonic seconds).

    A node that fails waits ``interval * 2**failures`` (capped) before the next attempt; a node
    known to have no Summary endpoint (KWOK) goes straight to the cap after its first miss.
    """

    uniform: Callable[[float, float], float] = field(default=random.uniform)
    due_at: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def sync(self, nodes: Iterable[str], now: float) -> None:
        """Track exactly ``nodes``: new ones are due now, gone ones are forgotten."""
        current = set(nodes)
        for gone in set(self.due_at) - current:
            self.due_at.pop(gone, None)
            self.failures.pop(gone, None)
        for node in current - set(self.due_at):
            self.due_at[node] = now

    def due(self, now: float) -> list[str]:
        """Nodes whose poll is due, most overdue first, then by name."""
        return [n for _, n in sorted((t, n) for n, t in self.due_at.items() if t <= now)]

    def succeeded(self, node: str, now: float, interval: float) -> None:
        self.failures.pop(node, None)
        self.due_at[node] = now + self._jittered(interval)

    def failed(self, node: str, now: float, interval: float, *, hopeless: bool = False) -> float:
        """Record a failed poll and return the delay until the next attempt."""
        count = self.failures.get(node, 0) + 1
        self.failures[node] = count
        cap = max(MAX_BACKOFF_SECONDS, interval)
        # The first failure already waits two intervals, hence one more doubling than failures.
        doublings = min(count, MAX_DOUBLINGS)
        delay = cap if hopeless else exponential_delay(doublings + 1, interval, cap)
        delay = self._jittered(delay)
        self.due_at[node] = now + delay
        return delay

    def _jittered(self, delay: float) -> float:
        return delay * (1 + self.uniform(-JITTER, JITTER))
