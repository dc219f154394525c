"""``EmptyDirReport`` manifests and status bodies, when a status is worth writing, and what a
status already told (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from podpilot.apimachinery.conditions import by_type, written_condition
from podpilot.apimachinery.digests import json_digest
from podpilot.apimachinery.group import API_VERSION
from podpilot.apimachinery.timestamps import format_datetime
from podpilot.emptydir.engine.model import Severity, WorkloadRef
from podpilot.emptydir.engine.report import (
    StatsCompleteness,
    WorkloadReport,
    report_name,
    report_status,
)
from podpilot.emptydir.engine.transitions import FindingKey

REPORTS = "emptydirreports"
POLICIES = "emptydirauditpolicies"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "podpilot-emptydir"
FIELD_MANAGER = "podpilot-emptydir"

MAX_FINDINGS = 500
"""``status.findings`` maxItems in the EmptyDirReport CRD; an apply over it would be refused."""

# Fields that change on every scan without anything happening; ignored when deciding to write.
_VOLATILE_STATUS = ("lastScanTime",)
_VOLATILE_SUMMARY = ("oldestStatsAgeSeconds",)


def owner_reference(workload: WorkloadRef) -> dict[str, Any] | None:
    """The ownerReference that garbage-collects a report with its workload, if it can be built."""
    if not workload.uid or not workload.api_version:
        return None
    # blockOwnerDeletion stays false: setting it needs update on the owner's finalizers.
    return {
        "apiVersion": workload.api_version,
        "kind": workload.kind,
        "name": workload.name,
        "uid": workload.uid,
        "controller": False,
        "blockOwnerDeletion": False,
    }


def report_manifest(report: WorkloadReport) -> dict[str, Any]:
    """The object part of a report (metadata and spec), for server-side apply."""
    workload = report.workload
    metadata: dict[str, Any] = {
        "name": report_name(workload),
        "namespace": workload.namespace,
        "labels": {
            MANAGED_BY_LABEL: MANAGED_BY,
            "app.kubernetes.io/part-of": "podpilot",
        },
    }
    reference = owner_reference(workload)
    if reference is not None:
        metadata["ownerReferences"] = [reference]
    spec_workload = {"kind": workload.kind, "name": workload.name}
    if workload.api_version:
        spec_workload["apiVersion"] = workload.api_version
    if workload.uid:
        spec_workload["uid"] = workload.uid
    return {
        "apiVersion": API_VERSION,
        "kind": "EmptyDirReport",
        "metadata": metadata,
        "spec": {"workload": spec_workload},
    }


def report_conditions(
    report: WorkloadReport,
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """``Ready`` and ``StatsComplete``; ``lastTransitionTime`` kept while a status is unchanged."""
    stats = report.summary.stats
    complete = stats in (StatsCompleteness.COMPLETE, StatsCompleteness.NOT_APPLICABLE)
    wanted = [
        ("Ready", "True", "Audited", "The workload's emptyDir volumes were audited."),
        (
            "StatsComplete",
            "True" if complete else "False",
            stats.value,
            "Every volume has a fresh usage sample."
            if complete
            else f"Usage numbers are {stats.value.lower()}; unknown usage is not shown as zero.",
        ),
    ]
    before = by_type(previous)
    stamp = format_datetime(now)
    return [
        written_condition(kind, status, reason, message, before=before.get(kind), now=stamp)
        for kind, status, reason, message in wanted
    ]


def report_status_body(
    report: WorkloadReport, previous_conditions: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """The full ``status`` of a report, with findings capped at the CRD's ``maxItems``.

    The cap keeps the worst findings (they are sorted worst first); ``summary.findings`` still
    counts all of them.
    """
    status = report_status(report)
    status["findings"] = status["findings"][:MAX_FINDINGS]
    status["conditions"] = report_conditions(report, previous_conditions, now)
    return status


def status_digest(status: Mapping[str, Any]) -> bytes:
    """A digest of what a status says, ignoring fields that change on every scan."""
    stable = {k: v for k, v in status.items() if k not in _VOLATILE_STATUS}
    summary = stable.get("summary")
    if isinstance(summary, Mapping):
        stable["summary"] = {k: v for k, v in summary.items() if k not in _VOLATILE_SUMMARY}
    stable["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in stable.get("conditions") or []
    ]
    return json_digest(stable)


def known_from_status(status: Mapping[str, Any]) -> dict[FindingKey, Severity]:
    """The findings an ``EmptyDirReport`` status lists, as ledger keys."""
    known: dict[FindingKey, Severity] = {}
    for entry in status.get("findings") or []:
        try:
            severity = Severity(entry["severity"])
            key = (str(entry["podUID"]), entry.get("volume"), str(entry["id"]))
        except (KeyError, TypeError, ValueError):
            continue
        known[key] = severity
    return known
