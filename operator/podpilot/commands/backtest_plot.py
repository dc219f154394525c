"""The backtest's plot: load against target above, actual and simulated replicas below.

matplotlib is an optional extra (``pip install 'podpilot[plot]'``), imported only when a plot
is asked for, and always with its Agg backend (no display, no GUI toolkit). The figure is
built without pyplot, so nothing global is left behind, and written as PNG and SVG.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from podpilot.autoscaler.api.metric_types import History
from podpilot.autoscaler.backtest.replay import Replay
from podpilot.autoscaler.backtest.summary import scale_event_times
from podpilot.commands.conventions import CommandError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EXIT_NO_PLOT = 4
INSTALL_HINT = "plotting needs matplotlib: pip install 'podpilot[plot]'"
SIZE_INCHES = (10.0, 6.0)
DPI = 100
SUFFIXES = (".png", ".svg")
EXIT_STATUS_EXTRA = (
    f"  {EXIT_NO_PLOT}    --plot was given but matplotlib is not installed "
    "(pip install 'podpilot[plot]')\n"
)


def _figure_class() -> type[Figure]:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise CommandError(INSTALL_HINT, EXIT_NO_PLOT) from None
    matplotlib.use("Agg")
    figure_module = importlib.import_module("matplotlib.figure")
    figure_class: type[Figure] = figure_module.Figure
    return figure_class


def add_plot_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--plot PATH``, and its exit status among the epilog's (before 130)."""
    parser.add_argument("--plot", metavar="PATH", default=None, help=help_text)
    parser.epilog = (parser.epilog or "").replace("  130", EXIT_STATUS_EXTRA + "  130", 1)


def check_available() -> None:
    """Raise the install hint unless matplotlib can be imported."""
    _figure_class()


def figure(replays: Sequence[Replay], title: str) -> Figure:
    """One figure for replays of the same trace: each replay's first metric as a load
    (percent of requests for a Resource metric, else percent of its target) with its target,
    the actual history's load, and every replica curve with its scale events marked."""
    figure_class = _figure_class()
    fig = figure_class(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    load_axes, replica_axes = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.2))
    first = replays[0]
    start = first.steps[0].time
    minutes = [(step.time - start) / 60 for step in first.steps]
    load_axes.plot(
        minutes,
        [_percent(value) for value in _load_curve(first, actual=True)],
        color="black",
        linewidth=1.2,
        label="actual",
    )
    replica_axes.step(
        minutes,
        [step.actual for step in first.steps],
        where="post",
        color="black",
        linewidth=1.5,
        label="actual",
    )
    for index, replayed in enumerate(replays):
        color = f"C{index}"
        load_axes.plot(
            minutes,
            [_percent(value) for value in _load_curve(replayed, actual=False)],
            color=color,
            linewidth=1.2,
            label=replayed.name,
        )
        load_axes.axhline(_target_percent(replayed), color=color, linestyle=":", linewidth=1)
        counts = replayed.replicas
        replica_axes.step(
            minutes, counts, where="post", color=color, linewidth=1.5, label=replayed.name
        )
        events = scale_event_times(counts, [step.time for step in replayed.steps])
        at = [minutes[first_index(replayed, time)] for time in events]
        replica_axes.plot(
            at,
            [counts[first_index(replayed, time)] for time in events],
            linestyle="none",
            marker="v",
            markersize=5,
            color=color,
        )
    kinds = {_utilization_target(replayed) is not None for replayed in replays}
    load_axes.set_ylabel(
        {True: "utilization (% of requests)", False: "% of target"}[kinds.pop()]
        if len(kinds) == 1
        else "% of requests (Utilization) or of target"
    )
    load_axes.set_title(title, fontsize=10)
    load_axes.legend(loc="upper left", fontsize=8)
    replica_axes.set_ylabel("replicas")
    replica_axes.set_xlabel("minutes from the start (▼ scale event; dotted: targets)")
    replica_axes.legend(loc="upper left", fontsize=8)
    return fig


def _utilization_target(replayed: Replay) -> int | None:
    """The first metric's Utilization target, None when it has another kind of target."""
    metric = replayed.spec.metrics[0]
    return metric.target.average_utilization if metric.history is not History.QUERY else None


def _target_percent(replayed: Replay) -> float:
    target = _utilization_target(replayed)
    return 100.0 if target is None else float(target)


def _load_curve(replayed: Replay, *, actual: bool) -> list[float | None]:
    """The first metric's load: used over requested for a Utilization target, else the
    ratio to its target (both as fractions)."""
    utilization = _utilization_target(replayed) is not None
    if actual:
        return [s.actual_loads[0] if utilization else s.actual_ratios[0] for s in replayed.steps]
    return [s.loads[0] if utilization else s.ratios[0] for s in replayed.steps]


def first_index(replayed: Replay, time: float) -> int:
    return next(i for i, step in enumerate(replayed.steps) if step.time == time)


def _percent(load: float | None) -> float:
    return float("nan") if load is None else load * 100


def paths(base: str) -> tuple[Path, Path]:
    """``--plot PATH``'s two files: PATH.png and PATH.svg (a given suffix is dropped)."""
    path = Path(base)
    if path.suffix in SUFFIXES:
        path = path.with_suffix("")
    return path.with_name(path.name + ".png"), path.with_name(path.name + ".svg")


def save(fig: Figure, base: str) -> tuple[Path, Path]:
    """Write ``fig`` as PNG and SVG (no timestamp and fixed ids in the SVG: reproducible)."""
    png, svg = paths(base)
    matplotlib = importlib.import_module("matplotlib")
    try:
        fig.savefig(png, format="png", metadata={"Software": None})
        # A fixed salt for the SVG's element ids, so the same plot is the same file.
        with matplotlib.rc_context({"svg.hashsalt": "podpilot"}):
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    except OSError as error:
        raise CommandError(f"cannot write the plot: {error.strerror or error}") from None
    return png, svg


__all__ = ["EXIT_NO_PLOT", "INSTALL_HINT", "check_available", "figure", "paths", "save"]
