"""The values of the ``podpilot_emptydir_*`` gauges, computed from one scan (pure).

Labels are bounded: namespace, owning workload, volume name, medium, and, only with the policy's
``metricsGranularity: pod``, pod and node (empty strings otherwise). With workload granularity the
pods of a workload share a series; it shows the worst pod (highest usage and utilization, lowest
time to limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from podpilot.emptydir.engine.evictions import EvictionKind
from podpilot.emptydir.engine.model import StatsFreshness, VolumeRecord
from podpilot.emptydir.engine.pod_audit import PodAudit

Labels = tuple[str, ...]

VOLUME_LABELS = ("namespace", "owner_kind", "owner", "volume", "medium", "pod", "node")
EFFECTIVE_LIMIT_LABELS = (*VOLUME_LABELS, "limit_source")
TMPFS_LABELS = (*VOLUME_LABELS, "kind")
VOLUMES_LABELS = ("namespace", "owner_kind", "owner", "medium", "stats")
FINDINGS_LABELS = ("namespace", "owner_kind", "owner", "finding", "severity")
EVICTIONS_LABELS = ("namespace", "owner_kind", "owner", "reason")

EVICTION_FINDINGS = {
    "ED020": EvictionKind.EMPTYDIR_LIMIT.value,
    "ED021": EvictionKind.POD_EPHEMERAL_LIMIT.value,
    "ED022": EvictionKind.CONTAINER_EPHEMERAL_LIMIT.value,
    "ED024": EvictionKind.NODE_PRESSURE.value,
}


@dataclass
class GaugeValues:
    """Values per label set of each gauge, by name without the ``podpilot_emptydir_`` prefix."""

    values: dict[str, dict[Labels, float]]

    def put(
        self,
        metric: str,
        labels: Labels,
        value: float | None,
        keep: Callable[[float, float], float] = max,
    ) -> None:
        if value is None:
            return  # unknown is absent, never zero
        series = self.values.setdefault(metric, {})
        series[labels] = keep(series[labels], value) if labels in series else value


def gauge_values(audits: Iterable[PodAudit], pod_granularity: bool) -> GaugeValues:
    """Compute every gauge of the emptyDir audit from one scan's pod audits."""
    out = GaugeValues({})
    for audit in audits:
        owner = (audit.workload.namespace, audit.workload.kind, audit.workload.name)
        for finding in audit.findings:
            out.put("findings", (*owner, finding.id, finding.severity.value), 1.0, _add)
        if audit.finished:
            continue  # evicted or completed: no live volume series
        pod = (audit.pod.name, audit.node_name or "") if pod_granularity else ("", "")
        for record in audit.records:
            _volume(out, owner, pod, record)
    return out


def _volume(out: GaugeValues, owner: Labels, pod: Labels, record: VolumeRecord) -> None:
    spec, usage = record.spec, record.usage
    labels = (*owner, spec.name, spec.medium.value, *pod)
    out.put("volumes", (*owner, spec.medium.value, record.freshness.value), 1.0, _add)
    if usage is not None and record.freshness is not StatsFreshness.UNAVAILABLE:
        out.put("volume_used_bytes", labels, usage.used_bytes)
        out.put("volume_inodes_used", labels, usage.inodes_used)
    out.put("volume_size_limit_bytes", labels, spec.size_limit_bytes)
    out.put(
        "volume_effective_limit_bytes",
        (*labels, spec.limit_source.value),
        spec.effective_limit_bytes,
        min,
    )
    out.put("volume_utilization_ratio", labels, record.utilization)
    out.put("volume_time_to_limit_seconds", labels, record.seconds_to_limit, min)
    out.put("tmpfs_size_bytes", (*labels, "expected"), record.tmpfs_size_expected_bytes)
    out.put("tmpfs_size_bytes", (*labels, "observed"), record.tmpfs_size_observed_bytes)


def new_evictions(audits: Iterable[PodAudit], seen: set[str]) -> list[Labels]:
    """Eviction counter label sets of pods evicted since the last call; updates ``seen``."""
    counted: list[Labels] = []
    for audit in audits:
        if audit.pod.uid in seen:
            continue
        for finding in audit.findings:
            reason = EVICTION_FINDINGS.get(finding.id)
            if reason is not None:
                seen.add(audit.pod.uid)
                workload = audit.workload
                counted.append((workload.namespace, workload.kind, workload.name, reason))
                break
    return counted


def _add(a: float, b: float) -> float:
    return a + b
