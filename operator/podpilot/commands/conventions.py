"""What every subcommand shares, in kubectl's words: the connection flags, the types of the
flags' values (numbers, durations, names), ``-o`` output formats and ``--output-file``, and the
exit statuses of a failure. Reading manifests (``-f``) is ``manifests``' job."""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import yaml

from podpilot.apimachinery.durations import parse_go_duration
from podpilot.commands.go_yaml import YAML_DUMPER
from podpilot.settings import KubeconfigSelection

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from podpilot.kube.clients import ApiClients

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_ANSWER = 3
EXIT_INTERRUPTED = 130
# The longest timeout a flag takes: a socket's timeout cannot be much longer (a few centuries),
# and no API call needs to wait a day.
LONGEST_TIMEOUT = 86400.0
# The shortest: no call can be answered sooner, so a shorter one (1ns, 1e-9) is a typo.
SHORTEST_TIMEOUT = 0.001
# The range of Go's int64, which kubectl's number flags (and the API server's JSON) take: the
# bounds of a whole-number flag that has no tighter one of its own.
SMALLEST_WHOLE_NUMBER = -(2**63)
LARGEST_WHOLE_NUMBER = 2**63 - 1
EXIT_STATUS = f"""\
exit status:
  {EXIT_OK}    success
  {EXIT_FAILED}    the work failed: the API server refused (not found, forbidden, ...), no
       credentials could be loaded, or the input was invalid
  {EXIT_USAGE}    the command line is wrong
  {EXIT_NO_ANSWER}    the API server could not be reached, or did not answer in time
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
Every failure is one line on stderr, starting with "podpilot COMMAND: error:".
"""


class CommandError(Exception):
    """A failure the user can act on: reported as one line, with its exit status."""

    def __init__(self, message: str, exit_status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's help ends with its default, unless the help already says it or there is
    none to show; the epilog (the exit statuses) keeps its lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        default = action.default
        if (
            "default" in help_text
            or default in (None, False, [], argparse.SUPPRESS)
            or not action.option_strings
        ):
            return help_text
        return f"{help_text} (default: %(default)s)"


def finite_float(text: str) -> float:
    """``float(text)`` without nan and inf, which ``float`` reads but no flag means.

    Raises:
        ValueError: If ``text`` is not a finite number.
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def number(text: str) -> float:
    """A flag's plain number (``type=float`` would take nan and inf)."""
    try:
        return finite_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def non_negative_number(text: str) -> float:
    """A flag's number that cannot be negative (a tolerance: ``0.1`` is 10 %)."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot be negative")
    return value


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def whole_number_within(text: str, what: str, lowest: int, highest: int) -> int:
    """A flag's whole number from ``lowest`` to ``highest``, in ASCII digits only (``int``
    would also read ``8_080``, `` 80 `` and other scripts' digits); argparse's error names
    ``what`` (``a port``, ``a shard count``) when it is not a whole number or out of range."""
    if not _WHOLE_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({what})")
    try:
        value = int(text)
    except ValueError:  # more digits than int() converts: out of any range
        value = None
    if value is None or not lowest <= value <= highest:
        raise argparse.ArgumentTypeError(f"{text!r}: {what} is from {lowest} to {highest}")
    return value


# Kubernetes' names, as the API server validates them: a namespace's is a DNS-1123 label, an
# object's (an Autoscaler's, an HPA's) a DNS-1123 subdomain.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_1123_LABEL = re.compile(_DNS_LABEL)
DNS_1123_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
LONGEST_LABEL = 63
LONGEST_SUBDOMAIN = 253


def namespace_name(text: str) -> str:
    """``-n``'s type: a namespace's name (a DNS-1123 label), refused before any call."""
    return _kubernetes_name(
        text,
        DNS_1123_LABEL,
        LONGEST_LABEL,
        f"a namespace name (lowercase letters, digits and '-', at most {LONGEST_LABEL}; "
        "patterns are not supported)",
    )


def resource_name(text: str) -> str:
    """``NAME``'s type: an object's name (a DNS-1123 subdomain), refused before any call."""
    return _kubernetes_name(
        text,
        DNS_1123_SUBDOMAIN,
        LONGEST_SUBDOMAIN,
        f"an object name (lower case letters, digits, '-' and '.', at most {LONGEST_SUBDOMAIN} "
        "characters)",
    )


def _kubernetes_name(text: str, pattern: re.Pattern[str], longest: int, what: str) -> str:
    if len(text) > longest or not pattern.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return text


def _signed_go_duration(text: str) -> float:
    """A Go duration in seconds, negative or not."""
    try:
        seconds = parse_go_duration(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):  # nan, or digits enough to overflow a float
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write it as Go does, e.g. 30s, 5m, 1m30s"
        )
    return seconds


def go_duration(text: str) -> float:
    """A flag's Go duration (``30s``, ``5m``, ``1m30s``) in seconds, as kube-controller-manager
    takes its duration flags."""
    seconds = _signed_go_duration(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration here cannot be negative")
    return seconds


def go_duration_text(seconds: float) -> str:
    """Seconds as Go prints a duration of whole seconds: ``5m0s``, ``30s``, ``1h0m0s``."""
    whole = round(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, rest = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{rest}s"
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def seconds_or_go_duration(text: str) -> float:
    """A bare number of seconds (``300``), or a Go duration; never negative."""
    try:
        seconds = finite_float(text)
    except ValueError:
        return go_duration(text)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration here cannot be negative")
    return seconds


def bounded_timeout(text: str, seconds: float) -> float:
    """``seconds``, read from a timeout flag's ``text``, if from ``SHORTEST_TIMEOUT`` to
    ``LONGEST_TIMEOUT``: one refusal for every timeout flag, whether the value is negative,
    zero (kubectl's "no timeout": podpilot bounds every call), too small or too large."""
    if not SHORTEST_TIMEOUT <= seconds <= LONGEST_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a timeout must be at least {SHORTEST_TIMEOUT:g} seconds "
            f"({SHORTEST_TIMEOUT * 1000:g}ms) and at most {LONGEST_TIMEOUT:g} seconds "
            f"({go_duration_text(LONGEST_TIMEOUT)}); podpilot always bounds a call"
        )
    return seconds


def request_timeout(text: str) -> float:
    """``--request-timeout``, as kubectl takes it (a Go duration or seconds), but bounded."""
    try:
        seconds = finite_float(text)
    except ValueError:
        seconds = _signed_go_duration(text)
    return bounded_timeout(text, seconds)


def go_duration_timeout(text: str) -> float:
    """A timeout flag that takes only a Go duration (``30s``), bounded as every timeout is."""
    return bounded_timeout(text, _signed_go_duration(text))


def add_request_timeout_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--request-timeout DURATION``, with its default (the clients' read timeout)."""
    from podpilot.kube.clients import READ_TIMEOUT

    parser.add_argument(
        "--request-timeout",
        type=request_timeout,
        default=READ_TIMEOUT,
        metavar="DURATION",
        help=f"{help_text}: 30s, 1m, or a number of seconds (default {READ_TIMEOUT:g}s)",
    )


def describe_exit_status(parser: argparse.ArgumentParser) -> None:
    """The kubectl-like help: defaults shown, exit statuses listed."""
    parser.formatter_class = HelpFormatter
    parser.epilog = EXIT_STATUS


def add_kubeconfig_arguments(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``, as kubectl takes them."""
    parser.add_argument(
        "--kubeconfig",
        metavar="FILES",
        default=None,
        help="kubeconfig files, several joined by ':' and merged as kubectl merges them "
        "(default: $KUBECONFIG, else ~/.kube/config, else, in a pod, the pod's "
        "ServiceAccount)",
    )
    parser.add_argument(
        "--context",
        default=None,
        help="the kubeconfig context to use (default: the kubeconfig's current-context)",
    )


def kubeconfig_selection(args: argparse.Namespace) -> KubeconfigSelection:
    return KubeconfigSelection(paths=args.kubeconfig, context=args.context)


def connect_one_call_at_a_time(args: argparse.Namespace) -> ApiClients:
    """The clients of a command that makes its calls one after another, each bounded as a
    whole by ``--request-timeout`` (as kubectl bounds it); credentials that cannot be loaded
    fail the command (``EXIT_FAILED``)."""
    from podpilot.kube.clients import CredentialsError, Timeouts, connect

    try:
        return connect(
            kubeconfig_selection(args),
            max_concurrent_calls=1,
            timeouts=Timeouts.reading(args.request_timeout),
            whole_call=True,
        )
    except CredentialsError as error:
        raise CommandError(str(error)) from None


def output_format(formats: Sequence[str]) -> Callable[[str], str]:
    """``-o``'s type: one of ``formats``, another refused in kubectl's words; one that looks
    like a file (the old ``-o FILE``) with a hint for ``--output-file``."""

    def parse(value: str) -> str:
        if value in formats:
            return value
        message = (
            f'unable to match a printer suitable for the output format "{value}", allowed '
            f"formats are: {','.join(sorted(formats))}"
        )
        if looks_like_a_file(value):
            message += (
                f"; -o names the format, as in kubectl: write to a file with --output-file {value}"
            )
        raise argparse.ArgumentTypeError(message)

    return parse


_FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]+")


def looks_like_a_file(value: str) -> bool:
    """``out.yaml``, ``dir/out``: a path, rather than a format name (``wide``); kubectl's formats
    that take an argument (``jsonpath=...``, ``custom-columns=...``) have an ``=``."""
    if "=" in value:
        return False
    has_separator = "/" in value or os.sep in value
    return has_separator or bool(_FILE_EXTENSION.fullmatch(PurePath(value).suffix))


def add_output_arguments(
    parser: argparse.ArgumentParser, formats: Sequence[str], default: str
) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=output_format(formats),
        default=default,
        metavar="FORMAT",
        help=f"output format: {', '.join(formats)} (default {default})",
    )
    parser.add_argument(
        "--output-file",
        metavar="FILE",
        default=None,
        help="write the output to this file instead of stdout",
    )


def render(value: Any, output: str) -> str:
    """``value`` (an object, or a ``List``) as ``-o yaml``, ``-o json`` or ``-o name`` print
    it: kubectl's shapes (JSON indented by 4; one ``kind.group/name`` line per object).

    Raises:
        ValueError: If ``value`` holds an infinity or a NaN, rather than printing the
            ``Infinity`` or ``NaN`` no JSON reader takes (``manifests.require_json`` says
            where).
    """
    if output == "json":
        return json.dumps(value, indent=4, allow_nan=False) + "\n"
    if output == "yaml":
        return yaml.dump(value, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False)
    if output == "name":
        items = (value.get("items") or []) if value.get("kind") == "List" else [value]
        return "".join(f"{object_name(item)}\n" for item in items)
    raise ValueError(f"not a structured output format: {output}")


def object_name(obj: Mapping[str, Any]) -> str:
    """An object as ``kubectl get -o name`` names it: ``autoscaler.podpilot.io/web``."""
    group, _, _ = str(obj.get("apiVersion") or "").rpartition("/")
    kind = str(obj.get("kind") or "").lower()
    name = (obj.get("metadata") or {}).get("name") or ""
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


def as_list(items: Sequence[Any]) -> dict[str, Any]:
    """Several objects as kubectl prints them: a ``v1`` ``List``."""
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {}}


def printable(text: str) -> str:
    """``text`` with the bytes Python could not decode (a file name, an argument that is not
    UTF-8) written as escapes: ``\\xff``, where the byte itself would fail any UTF-8 output."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_output(text: str, output_file: str | None) -> None:
    if output_file is None:
        if sys.stdout is None:  # started with stdout closed (>&-)
            raise CommandError("cannot write the output: stdout is closed")
        write_all(sys.stdout, text)
        return
    try:
        Path(output_file).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {output_file}: {error.strerror or error}") from error


def write_all(stream: SupportsWrite[str], text: str) -> None:
    """``text`` on ``stream`` (stdout), all of it, or ``BrokenPipeError`` when its reader went
    away.

    Under PYTHONUNBUFFERED (the image sets it) stdout's text layer writes to the file itself,
    and takes a write that the reader's closing cut short for a whole one: the rest would be
    lost without an error. Written to the file here, a short write is followed by another,
    which fails."""
    if not (isinstance(stream, io.TextIOWrapper) and isinstance(stream.buffer, io.RawIOBase)):
        stream.write(text)
        return
    stream.flush()
    unwritten = memoryview(text.encode(stream.encoding, stream.errors or "strict"))
    while unwritten:
        written = stream.buffer.write(unwritten)
        unwritten = unwritten[written or 0 :]  # None: a non-blocking stdout was full
