"""What ``podpilot backtest`` and ``recommend`` share: the specs from ``-f``, the history
flags (``--prometheus``, ``--from``/``--to``/``--step``, the series names), and the one read
of the history from Prometheus, with every failure one ``CommandError``.

Beside the series ``read_trace`` reads, the pods' phases come from kube-state-metrics'
``kube_pod_status_phase``, so that a Pending pod is replayed as the HPA groups it (unready)
and not as a running pod without a sample (missing)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import yaml

from podpilot.apimachinery.durations import parse_go_duration
from podpilot.apimachinery.timestamps import format_time, parse_time
from podpilot.autoscaler.api.conversion import (
    ConversionError,
    convert_hpa,
    objects_of,
    require_name,
)
from podpilot.autoscaler.api.spec import AutoscalerSpec, SpecError, parse_spec
from podpilot.autoscaler.backtest.replay import BacktestError, check_replayable
from podpilot.autoscaler.backtest.trace import Trace
from podpilot.autoscaler.engine import PodPhase
from podpilot.autoscaler.sources import prometheus_range
from podpilot.autoscaler.sources.prometheus_range import (
    HistoryError,
    RangeReader,
    SeriesNames,
    Window,
    default_pod_regex,
    per_pod,
    redacted_url,
)
from podpilot.commands import spec_shape
from podpilot.commands.conventions import (
    EXIT_NO_ANSWER,
    EXIT_USAGE,
    CommandError,
    finite_float,
    go_duration,
    go_duration_timeout,
    namespace_name,
)
from podpilot.commands.manifests import (
    manifest_files,
    read_manifests,
    require_json,
    source_label,
    unreadable,
)
from podpilot.commands.run import add_hpa_flags, hpa_settings_from
from podpilot.settings import HpaSettings

MAX_POINTS = 11000  # Prometheus refuses a range query of more points per series
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last second an RFC 3339 time can name

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PROMETHEUS_DURATION = re.compile(r"([0-9]+(ms|[smhdwy]))+")


def metric_name(text: str) -> str:
    """A Prometheus metric name, as the series flags take it."""
    if not METRIC_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Prometheus metric name")
    return text


def prometheus_duration(text: str) -> str:
    """A duration as PromQL writes it in a range selector (``1m``, ``1h30m``, ``90s``)."""
    if not PROMETHEUS_DURATION.fullmatch(text) or not any(c in "123456789" for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Prometheus duration above zero (e.g. 1m, 90s, 1h30m)"
        )
    return text


def http_url(text: str) -> str:
    """The base URL of a Prometheus: http or https, with a host and, if any, a port; no query
    or fragment (the API's path and query are added to it), no space. A password in it is
    never shown, here or in any later message."""
    problem = _url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{redacted_url(text)!r} {problem}")
    return text


def _url_problem(text: str) -> str | None:
    if any(character.isspace() or not character.isprintable() for character in text):
        return "has a space or a control character, which a URL cannot hold"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host (e.g. http://127.0.0.1:9090)"
    if "?" in text or "#" in text:
        return "has a ?query or #fragment: give the base URL (podpilot adds the API's path)"
    if not _valid_port(parts):
        return "has a port that is not a number from 1 to 65535"
    return None


def _valid_port(parts: SplitResult) -> bool:
    try:
        port = parts.port  # None without one: the scheme's
    except ValueError:  # not ASCII digits, or above 65535
        return False
    return port != 0


# The flags that name the history's series, each setting the ``SeriesNames`` field of the same
# name (its default is the field's): (flag, field, type, metavar, help).
_SERIES_FLAGS: tuple[tuple[str, str, Callable[[str], str], str, str], ...] = (
    ("--cpu-usage-metric", "cpu_usage", metric_name, "NAME", "cAdvisor CPU"),
    ("--memory-usage-metric", "memory_usage", metric_name, "NAME", "cAdvisor memory"),
    (
        "--requests-metric",
        "requests",
        metric_name,
        "NAME",
        "kube-state-metrics requests per container",
    ),
    (
        "--rate-window",
        "rate_window",
        prometheus_duration,
        "DURATION",
        "the rate() window of the CPU counter",
    ),
    (
        "--replicas-query",
        "replicas_query",
        str,
        "PROMQL",
        "the workload's replica count (default: kube-state-metrics' "
        "kube_<kind>_spec_replicas of the target, kube_statefulset_replicas of a StatefulSet)",
    ),
)

REPLAYED_HPA_SETTINGS = ("tolerance", "downscale_stabilization")

PHASE_METRIC = "kube_pod_status_phase"  # kube-state-metrics: 1 for the pod's current phase
# Where two kube-state-metrics replicas disagree for a moment, the phase later in a pod's life
# is the newer one (Unknown, which says least, first).
_PHASES_IN_LIFE_ORDER = (
    PodPhase.UNKNOWN,
    PodPhase.PENDING,
    PodPhase.RUNNING,
    PodPhase.SUCCEEDED,
    PodPhase.FAILED,
)


@dataclass(frozen=True)
class LoadedSpec:
    """One Autoscaler (or converted HPA) from ``-f``: its name, manifest and parsed spec."""

    name: str
    manifest: Mapping[str, Any]
    spec: AutoscalerSpec

    @property
    def namespace(self) -> str | None:
        namespace = (self.manifest.get("metadata") or {}).get("namespace")
        return str(namespace) if namespace else None


def moment(text: str) -> str:
    """``--from``/``--to``'s type: checked here, resolved against the clock later."""
    _resolve(text, 0.0)
    return text


def _resolve(text: str, now: float) -> float:
    """``now``, a duration relative to now (``-2h``, ``-90m``), RFC 3339, or epoch seconds."""
    moment_ = _read_time(text, now)
    if moment_ is None or not math.isfinite(moment_):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: write now, a duration from now (-2h, -30m), RFC 3339 "
            "(2026-12-03T08:00:00Z) or epoch seconds"
        )
    return moment_


def _read_time(text: str, now: float) -> float | None:
    if text == "now":
        return now
    if text[:1] in "-+":
        try:
            return now + parse_go_duration(text)
        except ValueError:
            pass
    try:
        return finite_float(text)
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError:
        return None


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    # "--from -2h" as promtool and kubectl users write it: an argument that starts with a
    # minus and a digit is a value, not an unknown flag (no flag of ours starts so).
    parser._negative_number_matcher = re.compile(r"^-\d")
    parser.epilog = (parser.epilog or "").replace(_API_SERVER_FAILURES, _PROMETHEUS_FAILURES)
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        action="append",
        required=True,
        metavar="FILE",
        help="Autoscaler or autoscaling/v2 HorizontalPodAutoscaler manifests (a file, a List, "
        "or a directory's .json, .yaml and .yml files; '-' reads stdin)",
    )
    parser.add_argument(
        "--prometheus",
        required=True,
        type=http_url,
        metavar="URL",
        help="the Prometheus that holds the history, e.g. http://127.0.0.1:9090",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=moment,
        default="-1h",
        metavar="TIME",
        help="start: now, a duration from now (-2h), RFC 3339 or epoch seconds; the replay "
        "knows no recommendation or scale event from before it",
    )
    parser.add_argument(
        "--to", dest="end", type=moment, default="now", metavar="TIME", help="end, as --from"
    )
    parser.add_argument(
        "--step",
        type=go_duration,
        default=15.0,
        metavar="DURATION",
        help="one evaluation every DURATION (the Autoscaler's period; default 15s)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        type=namespace_name,
        default=None,
        help="the workload's namespace (default: the manifest's, else default)",
    )
    parser.add_argument(
        "--pod-regex",
        default=None,
        metavar="REGEX",
        help="the workload's pods, as a PromQL regex (default: by the target's kind, e.g. "
        "<name>-<hash>-<5 chars> for a Deployment)",
    )
    for flag, field, kind, metavar, help_text in _SERIES_FLAGS:
        parser.add_argument(
            flag,
            dest=field,
            type=kind,
            default=getattr(SeriesNames, field),
            metavar=metavar,
            help=help_text,
        )
    parser.add_argument(
        "--phase-metric",
        type=metric_name,
        default=PHASE_METRIC,
        metavar="NAME",
        help="kube-state-metrics pod phase: a Pending pod is unready to the HPA, a Failed one "
        "ignored (without a sample in the window every pod is replayed as Running)",
    )
    hpa = parser.add_argument_group(
        "HPA-compatible settings (as podpilot run takes them; readiness is not read from the "
        "history: a Running pod is replayed as ready long before, so the CPU initialization "
        "period and readiness delay do not apply)"
    )
    add_hpa_flags(hpa, REPLAYED_HPA_SETTINGS)
    parser.add_argument(
        "--timeout",
        type=go_duration_timeout,
        default=30.0,
        metavar="DURATION",
        help="the longest one Prometheus query may take (default 30s)",
    )


# The exit statuses' words for the API server, which these commands never call: the history
# comes from Prometheus.
_API_SERVER_FAILURES = (
    "  1    the work failed: the API server refused (not found, forbidden, ...), no\n"
    "       credentials could be loaded, or the input was invalid\n"
    "  2    the command line is wrong\n"
    "  3    the API server could not be reached, or did not answer in time\n"
)
_PROMETHEUS_FAILURES = (
    "  1    the work failed: Prometheus refused a query, or the input was invalid\n"
    "  2    the command line is wrong\n"
    "  3    Prometheus could not be reached, or did not answer within --timeout\n"
)


def check_plot_path(path: str | None) -> None:
    """``--plot ''`` names no file to write: a usage error, not a run without its plot."""
    if path == "":
        raise CommandError(
            "--plot needs a PATH: the plot is written to PATH.png and PATH.svg", EXIT_USAGE
        )


def hpa_settings(args: argparse.Namespace) -> HpaSettings:
    """The HPA settings a replay decides with (the others keep their defaults)."""
    return hpa_settings_from(args, REPLAYED_HPA_SETTINGS)


def load_specs(sources: list[str]) -> list[LoadedSpec]:
    """Every Autoscaler and HPA of ``sources``, read as ``podpilot convert`` reads its files
    (stdin, directories, Lists); HPAs are converted as ``podpilot convert`` converts them."""
    loaded: list[LoadedSpec] = []
    for source in sources:
        for file in _files(source):
            objects = _objects(file)
            for where, item in objects:
                manifest, spec = _loaded(where, item)
                name = Path(source_label(file)).name
                if len(objects) > 1:
                    name += f"#{(manifest.get('metadata') or {}).get('name', len(loaded))}"
                loaded.append(LoadedSpec(name, manifest, spec))
    if not loaded:
        raise CommandError("no Autoscaler or HorizontalPodAutoscaler found in the input")
    targets = {(s.spec.target.kind, s.spec.target.name) for s in loaded}
    if len(targets) > 1:
        raise CommandError(
            "the specs scale different workloads ("
            + ", ".join(f"{kind}/{name}" for kind, name in sorted(targets))
            + "): a backtest replays one workload's history"
        )
    return loaded


def _files(source: str) -> list[str]:
    try:
        return manifest_files(source)
    except OSError as error:
        raise CommandError(f"{source_label(source)}: cannot read: {unreadable(error)}") from None


def _objects(file: str) -> list[tuple[str, object]]:
    """The objects of ``file``, each with where it is (the file, its document when there are
    several, its item in a List)."""
    label = source_label(file)
    try:
        documents = list(read_manifests(file))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CommandError(f"{label}: cannot read: {unreadable(error)}") from None
    several = sum(document is not None for document in documents) > 1
    found: list[tuple[str, object]] = []
    for index, document in enumerate(documents):
        where = f"{label}, document {index + 1}" if several else label
        try:
            items = objects_of(document)
        except ConversionError as error:
            raise CommandError(f"{where}: {error}") from None
        if len(items) == 1 and items[0] is document:
            found.append((where, document))
        else:
            found += [(f"{where}, item {number + 1}", item) for number, item in enumerate(items)]
    return found


def _loaded(where: str, item: object) -> tuple[Mapping[str, Any], AutoscalerSpec]:
    """One object as an Autoscaler manifest and its spec, checked as ``convert`` checks it."""
    if not isinstance(item, Mapping):
        raise CommandError(f"{where}: not a Kubernetes object")
    try:
        manifest = _autoscaler(spec_shape.checked(item))
        require_json(manifest)  # what the spec's check does not see: annotations, ...
        require_name(manifest)
        spec = parse_spec(manifest.get("spec") or {})
        check_replayable(spec)
    except KeyError as error:
        raise CommandError(f"{where}: spec.{error.args[0]} is required") from None
    except (ConversionError, SpecError, BacktestError, ValueError) as error:
        # ManifestError is a ValueError: a value no Kubernetes object can hold.
        raise CommandError(f"{where}: {error}") from None
    return manifest, spec


def _autoscaler(document: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = document.get("kind")
    if kind == "HorizontalPodAutoscaler":
        return convert_hpa(document).autoscaler
    if kind == "Autoscaler":
        return document
    raise ValueError(f"kind {kind!r} is neither an Autoscaler nor a HorizontalPodAutoscaler")


def window(args: argparse.Namespace, now: float | None = None) -> Window:
    """``--from``/``--to``/``--step`` against the clock, in whole seconds."""
    now = time.time() if now is None else now
    start = math.floor(_resolve(args.start, now))
    end = math.floor(_resolve(args.end, now))
    for flag, text, moment_ in (("--from", args.start, start), ("--to", args.end, end)):
        if not 0 <= moment_ <= LATEST_TIME:
            raise CommandError(f"{flag} {text}: not between 1970 and the year 9999", EXIT_USAGE)
    if args.step <= 0:
        raise CommandError("--step must be positive", EXIT_USAGE)
    if end <= start:
        raise CommandError(
            f"--to ({format_time(end)}) must be after --from ({format_time(start)})", EXIT_USAGE
        )
    if (end - start) / args.step + 1 > MAX_POINTS:
        raise CommandError(
            f"{(end - start) / args.step + 1:.0f} steps: Prometheus answers at most "
            f"{MAX_POINTS} points per series; raise --step or narrow --from/--to",
            EXIT_USAGE,
        )
    return Window(float(start), float(end), float(args.step))


def read_history(args: argparse.Namespace, specs: list[LoadedSpec], span: Window) -> Trace:
    """The trace every spec replays over, in one pass of range queries."""
    first = specs[0]
    namespace = args.namespace or first.namespace or "default"
    names = SeriesNames(
        namespace=namespace,
        pod_regex=args.pod_regex
        or default_pod_regex(first.spec.target.kind, first.spec.target.name),
        **{flag[1]: getattr(args, flag[1]) for flag in _SERIES_FLAGS},
    )
    reader = RangeReader(args.prometheus, timeout=args.timeout)
    try:
        trace = read_trace(
            reader, [loaded.spec for loaded in specs], names, span, args.phase_metric
        )
    except HistoryError as error:
        status = EXIT_NO_ANSWER if error.kind in ("unreachable", "timeout") else 1
        raise CommandError(str(error), status) from None
    finally:
        reader.close()
    empty = trace.empty_series()
    if empty:
        raise CommandError(
            f"no samples in the window for {', '.join(empty)} (namespace {namespace}, pods "
            f"{names.pod_regex!r}): check -n, --pod-regex and the series names"
        )
    unphased = [] if trace.phases else trace.pods_without_sample()
    if unphased:
        shown = ", ".join(unphased[:3]) + (f" and {len(unphased) - 3} more" if unphased[3:] else "")
        print(
            f"podpilot {args.command}: warning: no {args.phase_metric} sample in the window: "
            f"{shown} had a request but no usage sample at some step, and are replayed as "
            "running pods without a sample (missing), not as Pending (unready) or Failed "
            "(ignored) ones",
            file=sys.stderr,
        )
    for loaded in specs:
        period = loaded.spec.evaluation_period
        if period != span.step:
            print(
                f"podpilot {args.command}: warning: {loaded.name}: evaluated every "
                f"{span.step:g} s (--step), not every {period:g} s (its "
                "evaluationPeriodSeconds): policies and windows count evaluations at the step",
                file=sys.stderr,
            )
    return dataclasses.replace(trace, end=span.end)


def read_trace(
    reader: RangeReader,
    specs: Sequence[AutoscalerSpec],
    names: SeriesNames,
    span: Window,
    phase_metric: str = PHASE_METRIC,
) -> Trace:
    """Every series the replays of ``specs`` read, one range query each: those of
    ``prometheus_range.read_trace`` and, where a Resource metric has pods to group, the pods'
    phases (none kept when the window holds no phase sample)."""
    trace = prometheus_range.read_trace(reader, specs, names, span)
    if not trace.resources:
        return trace
    phases = pod_phases(reader.matrix(phase_query(phase_metric, names), span), span)
    return dataclasses.replace(trace, phases=phases if any(phases) else ())


def phase_query(metric: str, names: SeriesNames) -> str:
    """The phase series of the workload's pods: one series per pod and phase, only where it
    is the pod's phase (``max``: two kube-state-metrics replicas report the same series)."""
    # PromQL strings escape as JSON's do: a namespace or regex is quoted whatever it holds.
    namespace = json.dumps(names.namespace, ensure_ascii=False)
    pods = json.dumps(names.pod_regex, ensure_ascii=False)
    return f"max by (pod, phase) ({metric}{{namespace={namespace},pod=~{pods}}}) > 0"


def pod_phases(
    result: Sequence[Mapping[str, Any]], span: Window
) -> tuple[dict[str, PodPhase], ...]:
    """A phase matrix (``phase_query``'s) to each pod's phase per step; a pod without a
    sample at a step is absent from that step's mapping, a phase Kubernetes does not name
    is left out."""
    steps: list[dict[str, PodPhase]] = [{} for _ in span.times()]
    for phase in _PHASES_IN_LIFE_ORDER:  # a later phase overwrites an earlier one
        of_phase = [series for series in result if _label(series, "phase") == phase.value]
        for index, values in enumerate(per_pod(of_phase, span)):
            steps[index].update((pod, phase) for pod, milli in values.items() if milli > 0)
    return tuple(steps)


def _label(series: Mapping[str, Any], name: str) -> str:
    labels = series.get("metric") or {}
    return str(labels.get(name, "")) if isinstance(labels, Mapping) else ""


__all__ = [
    "LoadedSpec",
    "add_history_arguments",
    "check_plot_path",
    "hpa_settings",
    "load_specs",
    "moment",
    "phase_query",
    "pod_phases",
    "read_history",
    "read_trace",
    "window",
]
