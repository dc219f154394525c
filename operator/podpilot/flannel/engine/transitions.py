"""Which findings appeared and which cleared since the last recompute: Events are sent only then.

A finding is identified by its ID and node (cluster findings have no node). Severity changes of
an active finding (FL005 warning → critical) count as a transition too. The comparison is
:func:`podpilot.apimachinery.transitions.level_changes`; flannel adds worst-per-key, the
remembered name and message, and Events for cleared findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from podpilot.apimachinery.transitions import level_changes
from podpilot.flannel.engine.findings import Finding, Severity

FindingKey = tuple[str, str | None]


@dataclass(frozen=True)
class Active:
    """What is remembered of an active finding between recomputes."""

    name: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Transitions:
    raised: tuple[Finding, ...]
    cleared: tuple[tuple[FindingKey, Active], ...]
    current: dict[FindingKey, Active]


def _worst_per_key(findings: Iterable[Finding]) -> dict[FindingKey, Finding]:
    result: dict[FindingKey, Finding] = {}
    for finding in findings:
        key = (finding.id, finding.node)
        known = result.get(key)
        if known is None or finding.severity > known.severity:
            result[key] = finding
    return result


def active_findings(findings: Iterable[Finding]) -> dict[FindingKey, Active]:
    """One entry per (ID, node); when several findings share a key the worst one wins."""
    return {
        key: Active(f.name, f.severity, f.message) for key, f in _worst_per_key(findings).items()
    }


def diff(previous: Mapping[FindingKey, Active] | None, findings: Iterable[Finding]) -> Transitions:
    """Compare with the previous recompute. ``previous=None`` means nothing is known yet.

    Args:
        previous: Active findings after the last recompute.
        findings: All findings of this recompute.
    """
    worst = _worst_per_key(findings)
    current = {key: Active(f.name, f.severity, f.message) for key, f in worst.items()}
    before = previous or {}
    changes = level_changes(
        {key: old.severity for key, old in before.items()},
        {key: f.severity for key, f in worst.items()},
    )
    raised = tuple(worst[key] for key in changes.raised)
    cleared = tuple(
        sorted(
            ((key, before[key]) for key in changes.cleared),
            key=lambda item: (item[0][0], item[0][1] or ""),
        )
    )
    return Transitions(raised, cleared, current)
