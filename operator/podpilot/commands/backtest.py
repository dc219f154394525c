"""``podpilot backtest``: replay Autoscaler specs over a workload's history from Prometheus.

Each spec is replayed with the operator's own decision (``autoscaler.backtest.replay``), one
evaluation per ``--step``; the summary puts every spec's figures beside the actual history's.
The text output's heading also says how long the replay's cold start lasts: the history holds
no recommendation or scale event from before ``--from``, so the replay starts as the HPA does
when it first sees an autoscaler (its windows seeded with the starting count only).
"""

from __future__ import annotations

import argparse
from typing import Any

from podpilot.apimachinery.timestamps import format_time
from podpilot.autoscaler.backtest import summary
from podpilot.autoscaler.backtest.replay import RecordedPods, Replay, cold_start_seconds, replay
from podpilot.autoscaler.sources.prometheus_range import Window
from podpilot.commands import backtest_inputs, backtest_plot
from podpilot.commands.conventions import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_output_arguments,
    go_duration_text,
    render,
    write_output,
)
from podpilot.commands.manifests import source_label

OUTPUT_FORMATS = ("text", "json", "yaml")
COLUMNS = (
    "SPEC",
    "REPLICA-MINUTES",
    "OVER-TARGET",
    "UNDER-TARGET",
    "SCALE-EVENTS",
    "LARGEST-STEP",
    "AT-MAX",
    "PEAK-LOAD",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backtest_inputs.add_history_arguments(parser)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="replay every -f on one time axis, one summary row each (needed for several -f)",
    )
    backtest_plot.add_plot_argument(
        parser, "write the plot to PATH.png and PATH.svg (needs matplotlib: podpilot[plot])"
    )
    add_output_arguments(parser, OUTPUT_FORMATS, default="text")


def run(args: argparse.Namespace) -> int:
    backtest_inputs.check_plot_path(args.plot)
    if len(args.files) > 1 and not args.compare:
        raise CommandError("several -f are compared: add --compare", EXIT_USAGE)
    specs = backtest_inputs.load_specs(args.files)
    if len(specs) > 1 and not args.compare:
        several = source_label(args.files[0])
        raise CommandError(f"{several} holds several specs: add --compare", EXIT_USAGE)
    span = backtest_inputs.window(args)
    if args.plot:
        backtest_plot.check_available()  # before any query: a missing extra fails at once
    trace = backtest_inputs.read_history(args, specs, span)
    settings = backtest_inputs.hpa_settings(args)
    recorded = RecordedPods(trace, settings)  # grouped once for every spec
    replays = [
        replay(loaded.spec, trace, name=loaded.name, settings=settings, recorded=recorded)
        for loaded in specs
    ]
    report = _report(replays, span)
    cold_start = min(
        max(cold_start_seconds(loaded.spec, settings) for loaded in specs), span.end - span.start
    )
    if args.plot:
        reference = f"{specs[0].spec.target.kind}/{specs[0].spec.target.name}"
        title = f"backtest of {reference}, {format_time(span.start)} to {format_time(span.end)}"
        backtest_plot.save(backtest_plot.figure(replays, title), args.plot)
    text = _table(report, cold_start) if args.output == "text" else render(report, args.output)
    write_output(text, args.output_file)
    return EXIT_OK


def _report(replays: list[Replay], span: Window) -> dict[str, Any]:
    first = replays[0]
    return {
        "window": {
            "from": format_time(span.start),
            "to": format_time(span.end),
            "step": go_duration_text(span.step),
            "steps": len(first.steps),
        },
        "actual": {
            "summary": summary.actual(first).as_dict(),
            "replicas": [step.actual for step in first.steps],
        },
        "specs": [
            {
                "name": replayed.name,
                "summary": summary.simulated(replayed).as_dict(),
                "replicas": list(replayed.replicas),
            }
            for replayed in replays
        ],
    }


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [["actual", *_cells(report["actual"]["summary"])]]
    rows += [[spec["name"], *_cells(spec["summary"])] for spec in report["specs"]]
    return rows


def _cells(figures: dict[str, Any]) -> list[str]:
    peak = figures["peakLoad"]
    return [
        f"{figures['replicaMinutes']:.1f}",
        go_duration_text(figures["secondsOverTarget"]),
        go_duration_text(figures["secondsUnderTarget"]),
        str(figures["scaleEvents"]),
        str(figures["largestStep"]),
        go_duration_text(figures["secondsAtMaxReplicas"]),
        "-" if peak is None else f"{peak:.0%}",
    ]


def format_table(rows: list[list[str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Columns as kubectl aligns them: three spaces between, no borders."""
    widths = [max(len(row[i]) for row in [list(columns), *rows]) for i in range(len(columns))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [list(columns), *rows]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _table(report: dict[str, Any], cold_start: float) -> str:
    window = report["window"]
    heading = (
        f"# {window['from']} to {window['to']}, one evaluation every {window['step']} "
        f"({window['steps']} steps)\n"
    )
    return heading + cold_start_caveat(cold_start) + format_table(table_rows(report))


def cold_start_caveat(seconds: float) -> str:
    """The heading's line on what the replay cannot know: the memory of evaluations before
    ``--from`` (``seconds``: the longest stabilization window or policy period)."""
    if seconds <= 0:
        return ""
    return (
        "# cold start: no recommendation or scale event before --from is known; "
        f"the first {go_duration_text(seconds)} may differ from a running Autoscaler\n"
    )
