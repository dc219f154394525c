"""Which findings deserve an Event: transitions only, deduplicated and rate-limited.

A finding is announced when it appears or changes severity, at most once per key
``(pod uid, volume, finding id)`` per ``min_gap``, and at most ``per_cycle`` per cycle (the rest
wait for the next cycle, so a restart against a large cluster does not flood the API server).
What appeared or changed is :func:`podpilot.apimachinery.transitions.level_changes`; the quiet
findings, the gap and the cap are this feature's policy on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podpilot.apimachinery.transitions import level_changes
from podpilot.emptydir.engine.model import Finding, Severity

FindingKey = tuple[str, str | None, str]

QUIET_FINDINGS = frozenset({"ED008", "ED030", "ED032"})
"""Not announced: they describe stats plumbing or a medium, not a risk to the workload."""

MIN_GAP_SECONDS = 1800.0
PER_CYCLE = 50


@dataclass
class EventLedger:
    """The findings announced so far and when (monotonic seconds)."""

    min_gap: float = MIN_GAP_SECONDS
    per_cycle: int = PER_CYCLE
    known: dict[FindingKey, Severity] = field(default_factory=dict)
    last_emitted: dict[FindingKey, float] = field(default_factory=dict)

    def seed(self, known: Mapping[FindingKey, Severity]) -> None:
        """Remember findings already published (e.g. read back from reports after a restart)."""
        self.known.update(known)

    def transitions(self, findings: Iterable[Finding], now: float) -> list[Finding]:
        """Return the findings to announce now, and remember the current set."""
        current: dict[FindingKey, Finding] = {}
        for finding in findings:
            if finding.id not in QUIET_FINDINGS:
                current[finding.key] = finding
        changes = level_changes(self.known, {key: f.severity for key, f in current.items()})
        announce: list[Finding] = []
        for key in changes.raised:
            finding = current[key]
            if len(announce) >= self.per_cycle:
                continue  # left unknown: announced in a later cycle
            self.known[key] = finding.severity
            last = self.last_emitted.get(key)
            if last is not None and now - last < self.min_gap:
                continue
            self.last_emitted[key] = now
            announce.append(finding)
        for gone in changes.cleared:
            del self.known[gone]
        for expired in [k for k, t in self.last_emitted.items() if now - t >= self.min_gap]:
            if expired not in current:
                del self.last_emitted[expired]
        return announce
