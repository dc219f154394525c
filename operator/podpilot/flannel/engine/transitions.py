"""Which findings appeared and which cleared since the last recompute: Events are sent only then.

A finding is identified by its ID and node (cluster findings have no node) and, for the kinds a
node or the cluster can have several of at once, by what it is about (:data:`INSTANCE_EVIDENCE`):
FL021 by the duplicated pod IP, FL005 by the Network of its address family, a node's per-family
findings by their podCIDR or address. Severity changes of an active finding (FL005 warning →
critical) count as a transition too. The comparison is
:func:`podpilot.apimachinery.transitions.level_changes`; flannel adds worst-per-key, the
remembered name and message, and Events for cleared findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import NamedTuple

from podpilot.apimachinery.transitions import level_changes
from podpilot.flannel.engine.findings import Finding, Severity

INSTANCE_EVIDENCE: Mapping[str, str] = {
    "FL002": "podCIDR",  # one per address family
    "FL004": "podCIDR",
    "FL005": "network",
    "FL007": "annotation",  # backend-data, backend-v6-data
    "FL008": "value",  # the shared VtepMAC, IPv4 or IPv6
    "FL009": "value",  # the shared public IP, IPv4 or IPv6
    "FL010": "public_ip",
    "FL011": "wanted",
    "FL013": "node_vni",
    "FL017": "podCIDR",
    "FL021": "ip",
    "FL027": "field",  # an address annotation, a status.addresses type, status.podIPs
}
"""Finding ID → the evidence that tells its simultaneous findings apart. Evidence is written to
the reports, so the key of a finding read back after a restart is the same."""


class FindingKey(NamedTuple):
    """One finding across recomputes."""

    id: str
    node: str | None  # None: a cluster-level finding
    subject: str | None = None  # the INSTANCE_EVIDENCE value, for the kinds listed there


def finding_key(finding_id: str, node: str | None, evidence: Mapping[str, str]) -> FindingKey:
    """The key of a finding, from its parts as computed or as read back from a report."""
    instance = INSTANCE_EVIDENCE.get(finding_id)
    return FindingKey(finding_id, node, None if instance is None else evidence.get(instance))


def key_of(finding: Finding) -> FindingKey:
    return finding_key(finding.id, finding.node, dict(finding.evidence))


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
        key = key_of(finding)
        known = result.get(key)
        if known is None or finding.severity > known.severity:
            result[key] = finding
    return result


def active_findings(findings: Iterable[Finding]) -> dict[FindingKey, Active]:
    """One entry per key; when several findings share a key the worst one wins."""
    return {
        key: Active(f.name, f.severity, f.message) for key, f in _worst_per_key(findings).items()
    }


def without_nodes(active: Mapping[FindingKey, Active], nodes: Set[str]) -> dict[FindingKey, Active]:
    """``active`` without the findings of ``nodes``.

    For the nodes outside this reporter's node selector: their findings are another reporter's
    to announce, so they must leave the comparison without counting as resolved.
    """
    return {key: old for key, old in active.items() if key.node not in nodes}


def adopting(
    active: Mapping[FindingKey, Active], findings: Iterable[Finding]
) -> dict[FindingKey, Active]:
    """``active`` plus those of ``findings`` it lacks, as if they had been announced already."""
    adopted = active_findings(findings)
    adopted.update(active)
    return adopted


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
            key=lambda item: (item[0].id, item[0].node or "", item[0].subject or ""),
        )
    )
    return Transitions(raised, cleared, current)
