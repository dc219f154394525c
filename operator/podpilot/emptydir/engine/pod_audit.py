"""Audit one pod: its emptyDir volumes, their usage, and everything found about them."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podpilot.emptydir.engine.eviction_log import TRACED_FINDINGS
from podpilot.emptydir.engine.evictions import eviction_findings, oom_findings
from podpilot.emptydir.engine.findings import spec_findings, usage_findings
from podpilot.emptydir.engine.model import (
    Finding,
    FsSample,
    NodeFacts,
    PodRef,
    Thresholds,
    VolumeRecord,
    WorkloadRef,
)
from podpilot.emptydir.engine.name_pattern import name_pattern
from podpilot.emptydir.engine.records import volume_record
from podpilot.emptydir.engine.summary import NodeStatsState
from podpilot.emptydir.engine.trend import SampleRing, VolumeKey
from podpilot.emptydir.engine.volumes import emptydir_volumes, pod_ref, workload_of

EXEMPT_ANNOTATION = "podpilot.io/emptydir-audit-exempt"
"""Pod annotation listing finding IDs to suppress, comma-separated (``"ED001,ED010"``)."""

_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class Exemptions:
    """Findings to suppress, from the cluster policy.

    Attributes:
        finding_ids: IDs never reported.
        volume_name_pattern: Volumes whose name fully matches this regular expression are not
            audited at all.
    """

    finding_ids: frozenset[str] = frozenset()
    volume_name_pattern: str | None = None


@dataclass(frozen=True)
class PodAudit:
    """Everything the audit found about one pod.

    Attributes:
        pod: The pod.
        workload: The workload it rolls up to.
        node_name: Where it runs, if scheduled.
        finished: The pod is Succeeded or Failed (e.g. evicted); its stats are no longer expected.
        records: One per audited emptyDir volume.
        findings: All findings, exemptions applied, in a stable order. A finished pod keeps only
            what happened to it (evictions and OOM kills, ``TRACED_FINDINGS``), as a gone pod
            does: the risks in a spec count once per live pod, not again per finished copy.
    """

    pod: PodRef
    workload: WorkloadRef
    node_name: str | None
    finished: bool
    records: tuple[VolumeRecord, ...]
    findings: tuple[Finding, ...]


def audit_pod(
    pod: Mapping[str, Any],
    *,
    node: NodeFacts | None,
    stats: NodeStatsState | None,
    history: Mapping[VolumeKey, SampleRing],
    now: datetime,
    thresholds: Thresholds | None = None,
    exemptions: Exemptions | None = None,
    resolved_parents: Mapping[tuple[str, str], WorkloadRef] | None = None,
) -> PodAudit:
    """Audit a pod's emptyDir volumes.

    Args:
        pod: The Pod object as the API returns it.
        node: Facts about its node, or ``None`` if unscheduled or unknown.
        stats: Its node's Summary poll state, or ``None`` if never polled.
        history: Sample rings keyed by ``(pod uid, volume name)``; see
            :func:`podpilot.emptydir.engine.trend.update_history`.
        now: Audit time, timezone-aware.
        thresholds: Audit thresholds; defaults from the spec.
        exemptions: Cluster-wide exemptions; the pod's own annotation is added to them.
        resolved_parents: See :func:`podpilot.emptydir.engine.volumes.workload_of`.

    Returns:
        The pod's audit.
    """
    thresholds = thresholds or Thresholds()
    exemptions = exemptions or Exemptions()
    ref = pod_ref(pod)
    status = pod.get("status")
    phase = status.get("phase") if isinstance(status, Mapping) else None
    finished = phase in _FINISHED_PHASES
    exempt_text = exemptions.volume_name_pattern
    pattern = name_pattern(exempt_text) if exempt_text else None
    volumes = tuple(
        v
        for v in emptydir_volumes(pod, node, resolved_parents)
        if pattern is None or not pattern.matches(v.name)
    )
    records = tuple(
        volume_record(v, stats, history.get((ref.uid, v.name)), now, thresholds) for v in volumes
    )
    found: list[Finding] = []
    for record in records:
        found.extend(spec_findings(record.spec))
        scheduled = record.spec.node_name is not None
        if scheduled and not finished:
            found.extend(usage_findings(record, thresholds, stats))
    last_usage: dict[str, FsSample] = {r.spec.name: r.usage for r in records if r.usage}
    found.extend(eviction_findings(pod, volumes, last_usage))
    found.extend(oom_findings(pod, volumes, last_usage, thresholds))
    if finished:
        found = [f for f in found if f.id in TRACED_FINDINGS]
    suppressed = exemptions.finding_ids | _annotated_exemptions(pod)
    return PodAudit(
        pod=ref,
        workload=records[0].spec.workload if records else workload_of(pod, resolved_parents),
        node_name=_node_name(pod),
        finished=finished,
        records=records,
        findings=tuple(f for f in dict.fromkeys(found) if f.id not in suppressed),
    )


def _annotated_exemptions(pod: Mapping[str, Any]) -> frozenset[str]:
    metadata = pod.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    raw = annotations.get(EXEMPT_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(raw, str):
        return frozenset()
    return frozenset(part.strip().upper() for part in raw.split(",") if part.strip())


def _node_name(pod: Mapping[str, Any]) -> str | None:
    spec = pod.get("spec")
    name = spec.get("nodeName") if isinstance(spec, Mapping) else None
    return name if isinstance(name, str) and name else None
