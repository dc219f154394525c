"""One full audit over the in-memory model; pure, so a worker thread or a benchmark can run it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from podpilot.emptydir.engine.audit_policy import AuditPolicy
from podpilot.emptydir.engine.eviction_log import EvictionNotice, gone_pods, traced_only
from podpilot.emptydir.engine.model import NodeFinding, WorkloadRef
from podpilot.emptydir.engine.nodefs import nodefs_finding
from podpilot.emptydir.engine.objects import NodeInfo
from podpilot.emptydir.engine.pod_audit import PodAudit, audit_pod
from podpilot.emptydir.engine.report import (
    ClusterRollup,
    WorkloadReport,
    cluster_rollup,
    rollup_all,
)
from podpilot.emptydir.engine.summary import NodeStatsState
from podpilot.emptydir.engine.trend import SampleRing, VolumeKey

OwnerKey = tuple[str, str, str]
"""``(namespace, kind, name)`` of a pod's controller owner."""


@dataclass(frozen=True)
class Snapshot:
    """Everything one scan reads.

    Attributes:
        pods: Slim pods with emptyDir volumes (see :func:`.objects.slim_pod`).
        nodes: Nodes by name.
        namespace_labels: Labels of each namespace, when known.
        stats: Summary poll state by node name.
        history: Sample rings by node name, then by ``(pod uid, volume)``.
        parents: Resolved owners of ReplicaSets and Jobs, by their own ``(namespace, kind, name)``.
        policy: The cluster policy.
        now: Scan time.
        evictions: Recent ``Evicted`` Events; those of pods no longer in ``pods`` are audited
            from the pod's last copy (see :mod:`podpilot.emptydir.engine.eviction_log`).
    """

    pods: Sequence[Mapping[str, Any]]
    nodes: Mapping[str, NodeInfo]
    namespace_labels: Mapping[str, Mapping[str, str]]
    stats: Mapping[str, NodeStatsState]
    history: Mapping[str, Mapping[VolumeKey, SampleRing]]
    parents: Mapping[OwnerKey, WorkloadRef]
    policy: AuditPolicy
    now: datetime
    evictions: Sequence[EvictionNotice] = ()


@dataclass(frozen=True)
class ScanResult:
    audits: tuple[PodAudit, ...]
    reports: tuple[WorkloadReport, ...]
    rollup: ClusterRollup


def selected(
    pods: Sequence[Mapping[str, Any]],
    policy: AuditPolicy,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> list[Mapping[str, Any]]:
    """The pods the policy audits (namespace selector and exemptions)."""
    chosen = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "")
        if not policy.audits_namespace(namespace, namespace_labels.get(namespace)):
            continue
        if policy.exempts_pod(metadata.get("labels") or {}):
            continue
        chosen.append(pod)
    return chosen


def run_scan(snapshot: Snapshot) -> ScanResult:
    """Audit every selected pod and roll the audits up per workload and for the cluster."""
    policy = snapshot.policy
    parents_by_namespace: dict[str, dict[tuple[str, str], WorkloadRef]] = {}
    for (namespace, kind, name), parent in snapshot.parents.items():
        parents_by_namespace.setdefault(namespace, {})[(kind, name)] = parent

    def audit(pod: Mapping[str, Any], node_name: str | None) -> PodAudit:
        node = snapshot.nodes.get(node_name) if node_name else None
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        return audit_pod(
            pod,
            node=node.facts if node else None,
            stats=snapshot.stats.get(node_name) if node_name else None,
            history=snapshot.history.get(node_name, {}) if node_name else {},
            now=snapshot.now,
            thresholds=policy.thresholds,
            exemptions=policy.exemptions,
            resolved_parents=parents_by_namespace.get(namespace),
        )

    audits = [
        audit(pod, (pod.get("spec") or {}).get("nodeName"))
        for pod in selected(snapshot.pods, policy, snapshot.namespace_labels)
    ]
    audited_live = len(audits)
    present = [str((p.get("metadata") or {}).get("uid")) for p in snapshot.pods]
    gone = gone_pods(snapshot.evictions, present)
    for pod in selected(gone, policy, snapshot.namespace_labels):
        found = audit(pod, None)  # no node: its usage is gone with it
        findings = traced_only(found.findings)
        # A bare pod is its own workload: its report went with it (ownerReference).
        if findings and found.workload.uid != found.pod.uid:
            audits.append(replace(found, records=(), findings=findings))
    reports = rollup_all(audits, snapshot.now, policy.max_volumes_per_report)
    polled = {n: s for n, s in snapshot.stats.items() if n in snapshot.nodes}
    rollup = cluster_rollup(
        reports, audited_live, polled, snapshot.now, node_findings(snapshot.pods, polled, policy)
    )
    return ScanResult(tuple(audits), reports, rollup)


def node_findings(
    pods: Sequence[Mapping[str, Any]],
    stats: Mapping[str, NodeStatsState],
    policy: AuditPolicy,
) -> list[NodeFinding]:
    """ED013 for each polled node, over every disk emptyDir in the model on that node.

    All pods count, selected by the policy or not: the share is a fact about the node's disk.
    """
    disk = volumes_by_node(pods, disk_only=True)
    found = []
    for node, state in stats.items():
        finding = nodefs_finding(node, state.summary, disk.get(node, set()), policy.thresholds)
        if finding is not None:
            found.append(finding)
    return found


def volumes_by_node(
    pods: Sequence[Mapping[str, Any]], *, disk_only: bool = False
) -> dict[str, set[VolumeKey]]:
    """The emptyDir volumes on each node (to prune the sample rings of pods that left, and
    with ``disk_only`` for the node's emptyDir share of nodefs)."""
    found: dict[str, set[VolumeKey]] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        uid = (pod.get("metadata") or {}).get("uid")
        if not node or not uid:
            continue
        for volume in spec.get("volumes") or []:
            if not isinstance(volume, Mapping) or not volume.get("name"):
                continue
            if "emptyDir" not in volume:
                continue
            source = volume["emptyDir"]
            medium = source.get("medium") if isinstance(source, Mapping) else None
            if disk_only and medium not in (None, ""):
                continue
            found.setdefault(node, set()).add((uid, str(volume["name"])))
    return found
