"""An Autoscaler's status told in words, for ``podpilot explain``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .shadow import describe_tally
from .takeover_from import describe_record


def explain(autoscaler: Mapping[str, Any]) -> str:
    """The last decision of an Autoscaler object, as readable lines."""
    name = autoscaler.get("metadata", {}).get("name", "?")
    spec: Mapping[str, Any] = autoscaler.get("spec") or {}
    status: Mapping[str, Any] = autoscaler.get("status") or {}
    trace: Mapping[str, Any] = status.get("lastDecision") or {}
    if not trace:
        return f"Autoscaler {name} has not been evaluated yet (is the operator running?)."
    lines = [
        f"Autoscaler {name} -> {status.get('reference', '?')} "
        f"(mode {spec.get('mode', 'Active')}{', paused' if spec.get('paused') else ''})",
        f"Decision written at {trace.get('evaluatedAt')}: {trace.get('currentReplicas')} "
        f"replicas, bounds [{spec.get('minReplicas', 1)}, {spec.get('maxReplicas')}]",
        # The operator writes an unchanged decision again only at its status heartbeat: an
        # old time here is not a stalled operator.
        "  (an unchanged decision is written again only at the status heartbeat, 5m by default)",
    ]
    winner = trace.get("winner")
    for metric in trace.get("metrics") or []:
        marker = " (winner)" if metric.get("index") == winner else ""
        if "proposedReplicas" in metric:
            current = ", ".join(f"{k} {v}" for k, v in (metric.get("current") or {}).items())
            lines.append(
                f"  metric {metric['index']} {metric.get('type')} {metric.get('name')}: "
                f"{current or 'no reading'} -> proposes {metric['proposedReplicas']}{marker}"
            )
        else:
            lines.append(
                f"  metric {metric['index']} {metric.get('type')} {metric.get('name')}: "
                f"FAILED: {metric.get('error', 'unknown error')}"
            )
    if trace.get("explanation"):
        lines.append("Steps:")
        lines += [f"  {line}" for line in trace["explanation"]]
    lines.append(f"Result: {trace.get('action')}: {trace.get('actionMessage', '')}")
    lines += [f"  {condition_line(c)}" for c in status.get("conditions") or []]
    shadow = status.get("shadow")
    if isinstance(shadow, Mapping) and shadow.get("hpa"):
        lines += describe_tally(shadow, shadowing=spec.get("mode") == "DryRun")
    lines += describe_record(status.get("takeover"))
    return "\n".join(lines)


def condition_line(condition: Mapping[str, Any]) -> str:
    """One status condition (an Autoscaler's or an HPA's) as ``Type=Status (Reason): message``."""
    return (
        f"{condition['type']}={condition['status']} ({condition['reason']}): "
        f"{condition.get('message', '')}"
    )


SUMMARY_COLUMNS = ("NAME", "REFERENCE", "MODE", "REPLICAS", "DESIRED", "RESULT", "EVALUATED")


def summary_table(autoscalers: Sequence[Mapping[str, Any]], with_namespace: bool) -> str:
    """One row per Autoscaler, columns aligned as kubectl's ``-o wide`` aligns them."""
    header = ("NAMESPACE", *SUMMARY_COLUMNS) if with_namespace else SUMMARY_COLUMNS
    rows = [header] + [_summary_row(a, with_namespace) for a in autoscalers]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _summary_row(autoscaler: Mapping[str, Any], with_namespace: bool) -> tuple[str, ...]:
    metadata: Mapping[str, Any] = autoscaler.get("metadata") or {}
    spec: Mapping[str, Any] = autoscaler.get("spec") or {}
    status: Mapping[str, Any] = autoscaler.get("status") or {}
    trace: Mapping[str, Any] = status.get("lastDecision") or {}
    cells = (
        metadata.get("name"),
        status.get("reference"),
        spec.get("mode", "Active") + (",Paused" if spec.get("paused") else ""),
        trace.get("currentReplicas", status.get("currentReplicas")),
        status.get("desiredReplicas"),
        trace.get("action"),
        trace.get("evaluatedAt"),
    )
    shown = tuple("<none>" if cell is None else str(cell) for cell in cells)
    return (str(metadata.get("namespace", "<none>")), *shown) if with_namespace else shown
