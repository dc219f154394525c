"""``podpilot recommend``: the cheapest spec that keeps the load under a ceiling, over history.

The candidates (``autoscaler.backtest.candidates``: targets, min, max and behavior around the
given spec) are replayed over the same history as ``podpilot backtest`` reads; the one with the
fewest replica-minutes whose load stays under ``--ceiling`` wins. The output is the
recommended manifest (ready for ``kubectl apply -f -``) with the evidence beside it: as YAML
comments with ``-o yaml``, as a field with ``-o json``; ``-o name`` prints its name alone.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Mapping
from typing import Any

import yaml

from podpilot.apimachinery.authored import authored
from podpilot.apimachinery.timestamps import format_time
from podpilot.autoscaler.backtest import summary
from podpilot.autoscaler.backtest.replay import BacktestError
from podpilot.autoscaler.backtest.search import Evaluated, Recommendation, recommend
from podpilot.commands import backtest_inputs, backtest_plot
from podpilot.commands.backtest import format_table
from podpilot.commands.conventions import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_output_arguments,
    finite_float,
    go_duration_text,
    render,
    write_output,
)
from podpilot.commands.go_yaml import YAML_DUMPER

OUTPUT_FORMATS = ("yaml", "json", "name")
COLUMNS = ("", "REPLICA-MINUTES", "OVER-CEILING", "SCALE-EVENTS", "PEAK-LOAD", "SPEC")


def fraction(text: str, highest: float = 10) -> float:
    """A fraction, or a percentage with ``%``, from 0 to ``highest``."""
    try:
        value = finite_float(text[:-1]) / 100 if text.endswith("%") else finite_float(text)
    except ValueError:
        message = f"{text!r} is not a fraction (0.8) or percentage (80%)"
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value <= highest:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (0 to {highest:.0%})")
    return value


def share_of_time(text: str) -> float:
    """A share of the time: a fraction or percentage from 0 to 1 (100%)."""
    return fraction(text, highest=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backtest_inputs.add_history_arguments(parser)
    parser.add_argument(
        "--ceiling",
        type=fraction,
        required=True,
        metavar="FRACTION",
        help="the highest load to allow: the fraction of requests a Resource metric may use "
        "(0.8 or 80%%), for a Prometheus metric the fraction of the given spec's target",
    )
    parser.add_argument(
        "--allowed-over",
        type=share_of_time,
        default=0.0,
        metavar="FRACTION",
        help="the share of the time the load may exceed the ceiling (default 0: never)",
    )
    backtest_plot.add_plot_argument(
        parser, "write the plot (actual, given, recommended) to PATH.png and PATH.svg"
    )
    add_output_arguments(parser, OUTPUT_FORMATS, default="yaml")


def run(args: argparse.Namespace) -> int:
    backtest_inputs.check_plot_path(args.plot)
    specs = backtest_inputs.load_specs(args.files)
    if len(specs) != 1:
        raise CommandError(
            "recommend takes one spec (one -f holding one Autoscaler or HPA)", EXIT_USAGE
        )
    loaded = specs[0]
    if args.output == "name":
        _require_a_name(loaded.manifest)
    span = backtest_inputs.window(args)
    if args.plot:
        backtest_plot.check_available()
    trace = backtest_inputs.read_history(args, specs, span)
    try:
        found = recommend(
            loaded.manifest.get("spec") or {},
            trace,
            ceiling=args.ceiling,
            allowed_over=args.allowed_over,
            settings=backtest_inputs.hpa_settings(args),
        )
    except BacktestError as error:
        raise CommandError(str(error)) from None
    if args.plot:
        reference = f"{loaded.spec.target.kind}/{loaded.spec.target.name}"
        title = (
            f"recommend for {reference} (ceiling {args.ceiling:.0%}), "
            f"{format_time(span.start)} to {format_time(span.end)}"
        )
        chosen = [found.original.replay]
        if found.best is not None and found.best is not found.original:
            chosen.append(found.best.replay)
        backtest_plot.save(backtest_plot.figure(chosen, title), args.plot)
    if found.best is None:
        closest = min(found.evaluated, key=lambda item: item.summary.seconds_over_ceiling or 0.0)
        raise CommandError(
            f"no candidate keeps the load under {args.ceiling:.0%} for all but "
            f"{args.allowed_over:.0%} of the time; the closest ({closest.candidate.label}) is "
            f"over it for {go_duration_text(closest.summary.seconds_over_ceiling or 0.0)}"
        )
    manifest = _manifest(loaded.manifest, found.best)
    evidence = _evidence(found)
    if args.output == "json":
        text = render({"recommended": manifest, "evidence": evidence}, "json")
    elif args.output == "name":
        text = render(manifest, "name")
    else:
        table = format_table(_rows(found), COLUMNS)
        comments = "".join(f"# {line}".rstrip() + "\n" for line in table.splitlines())
        body = yaml.dump(manifest, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False)
        text = comments + body
    write_output(text, args.output_file)
    return EXIT_OK


def _require_a_name(manifest: Mapping[str, Any]) -> None:
    """``-o name`` prints the name of the object, which one with only ``metadata.generateName``
    does not have until the API server creates it (kubectl's printer says ``<unknown>`` in its
    place, and ``kubectl apply`` refuses such an object): refused before any query, rather than
    printing a bare ``autoscaler.podpilot.io/`` or a name the object will never have."""
    metadata = manifest.get("metadata") or {}
    if not metadata.get("name"):
        raise CommandError(
            "-o name: the Autoscaler has no name, only metadata.generateName "
            f"{metadata.get('generateName')!r}, which the API server completes when it creates "
            "the object: use -o yaml or -o json",
            EXIT_USAGE,
        )


# kubectl's copy of the object as last applied: stale once the spec changes.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The order kubectl prints an object's fields in.
FIELD_ORDER = ("apiVersion", "kind", "metadata", "spec")


def _manifest(given: Any, best: Evaluated) -> dict[str, Any]:
    """The given manifest with the best candidate's spec, ready for ``kubectl apply``, its
    fields in kubectl's order."""
    manifest = authored(copy.deepcopy(dict(given)))
    annotations = manifest["metadata"].get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del manifest["metadata"]["annotations"]
    manifest["spec"] = copy.deepcopy(dict(best.candidate.raw))
    return _in_kubectl_order(manifest)


def _in_kubectl_order(manifest: dict[str, Any]) -> dict[str, Any]:
    first = {key: manifest[key] for key in FIELD_ORDER if key in manifest}
    return {**first, **{key: value for key, value in manifest.items() if key not in first}}


def _rows(found: Recommendation) -> list[list[str]]:
    assert found.best is not None
    actual = summary.actual(found.original.replay, found.ceiling)
    rows = [_row("actual", actual, "history")]
    rows.append(_row("given", found.original.summary, found.original.candidate.label))
    rows.append(_row("recommended", found.best.summary, found.best.candidate.label))
    return rows


def _row(label: str, figures: summary.Summary, spec: str) -> list[str]:
    peak = figures.peak_load
    return [
        label,
        f"{figures.replica_minutes:.1f}",
        go_duration_text(figures.seconds_over_ceiling or 0.0),
        str(figures.scale_events),
        "-" if peak is None else f"{peak:.0%}",
        spec,
    ]


def _evidence(found: Recommendation) -> dict[str, Any]:
    assert found.best is not None
    return {
        "ceiling": found.ceiling,
        "allowedSecondsOverCeiling": found.allowed_seconds,
        "candidates": len(found.evaluated),
        "actual": summary.actual(found.original.replay, found.ceiling).as_dict(),
        "given": found.original.summary.as_dict(),
        "recommended": {
            "candidate": found.best.candidate.label,
            "summary": found.best.summary.as_dict(),
            "replicas": list(found.best.replay.replicas),
        },
    }
