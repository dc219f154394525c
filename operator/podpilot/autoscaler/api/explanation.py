"""An Autoscaler's status told in words, for ``podpilot explain``.

Every field is read as optional and of any type: the object comes from the API server as the
CRD's schema let it through (or as a proxy mangled it), and a field that is missing or not of
its type is shown as unknown rather than ending the explanation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podpilot.apimachinery.json_fields import count, mapping, mappings, sequence

from .shadow import describe_tally
from .takeover_from import describe_record


def explain(autoscaler: Mapping[str, Any]) -> str:
    """The last decision of an Autoscaler object, as readable lines."""
    name = mapping(autoscaler.get("metadata")).get("name", "?")
    spec = mapping(autoscaler.get("spec"))
    status = mapping(autoscaler.get("status"))
    trace = mapping(status.get("lastDecision"))
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
    lines += [metric_line(m, winner) for m in mappings(trace.get("metrics"))]
    steps = sequence(trace.get("explanation"))
    if steps:
        lines.append("Steps:")
        lines += [f"  {line}" for line in steps]
    lines.append(f"Result: {trace.get('action')}: {trace.get('actionMessage', '')}")
    lines += [f"  {condition_line(c)}" for c in mappings(status.get("conditions"))]
    shadow = status.get("shadow")
    if isinstance(shadow, Mapping) and shadow.get("hpa"):
        lines += describe_tally(_readable_tally(shadow), shadowing=spec.get("mode") == "DryRun")
    lines += describe_record(_readable_record(status.get("takeover")))
    return "\n".join(lines)


def metric_line(metric: Mapping[str, Any], winner: object) -> str:
    """One metric of the last decision: its reading and proposal, or why it failed."""
    marker = " (winner)" if metric.get("index") == winner else ""
    named = f"metric {metric.get('index', '?')} {metric.get('type')} {metric.get('name')}"
    if "proposedReplicas" not in metric:
        return f"  {named}: FAILED: {metric.get('error', 'unknown error')}"
    readings = mapping(metric.get("current")).items()
    current = ", ".join(f"{kind} {value}" for kind, value in readings)
    return f"  {named}: {current or 'no reading'} -> proposes {metric['proposedReplicas']}{marker}"


def condition_line(condition: Mapping[str, Any]) -> str:
    """One status condition (an Autoscaler's or an HPA's) as ``Type=Status (Reason): message``;
    the CRD requires only the type and the status, and a condition without a reason has none
    shown."""
    reason = condition.get("reason")
    because = f" ({reason})" if reason else ""
    return (
        f"{condition.get('type', '?')}={condition.get('status', '?')}{because}: "
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
    metadata = mapping(autoscaler.get("metadata"))
    spec = mapping(autoscaler.get("spec"))
    status = mapping(autoscaler.get("status"))
    trace = mapping(status.get("lastDecision"))
    cells = (
        metadata.get("name"),
        status.get("reference"),
        f"{spec.get('mode', 'Active')}{',Paused' if spec.get('paused') else ''}",
        trace.get("currentReplicas", status.get("currentReplicas")),
        status.get("desiredReplicas"),
        trace.get("action"),
        trace.get("evaluatedAt"),
    )
    shown = tuple("<none>" if cell is None else str(cell) for cell in cells)
    return (str(metadata.get("namespace", "<none>")), *shown) if with_namespace else shown


def _readable_tally(shadow: Mapping[str, Any]) -> dict[str, Any]:
    """``status.shadow`` with its counts whole numbers (0 when not) and its last disagreement's
    two sides objects, as ``describe_tally`` reads them."""
    counts = {key: count(shadow.get(key)) for key in ("evaluations", "agreed", "skipped")}
    last = shadow.get("lastDisagreement")
    if isinstance(last, Mapping):
        last = {**last, "ours": mapping(last.get("ours")), "hpa": mapping(last.get("hpa"))}
    return {**shadow, **counts, "lastDisagreement": last}


def _readable_record(stored: object) -> object:
    """``status.takeover`` with a ``seededAt`` that is not text left out (``describe_record``
    then shows no record, as for any record it cannot read)."""
    if not isinstance(stored, Mapping) or isinstance(stored.get("seededAt"), str):
        return stored
    return {**stored, "seededAt": None}
