"""``podpilot convert``: HorizontalPodAutoscaler manifests in, Autoscaler manifests out."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import yaml

from podpilot.autoscaler.api.conversion import MODES, ConversionError, convert_documents
from podpilot.commands.conventions import (
    EXIT_OK,
    YAML_DUMPER,
    CommandError,
    add_output_arguments,
    as_list,
    render,
    unreadable,
    write_output,
)

STDIN = "-"
OUTPUT_FORMATS = ("yaml", "json", "name")
# libyaml's C loader when PyYAML was built with it (its wheels are), as for the dumper.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="HPA manifests (multi-document YAML, or a List); '-' or nothing reads stdin",
    )
    parser.add_argument(
        "-f",
        "--filename",
        dest="filenames",
        action="append",
        default=[],
        metavar="FILE",
        help="an HPA manifest, as kubectl convert -f takes it (repeatable; '-' reads stdin)",
    )
    add_output_arguments(parser, OUTPUT_FORMATS, default="yaml")
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="set spec.mode, e.g. DryRun to run beside the existing HPA before switching "
        "(default: unset, which is Active)",
    )


def run(args: argparse.Namespace) -> int:
    sources: list[str] = [*args.files, *args.filenames] or [STDIN]
    converted: list[dict[str, Any]] = []
    failures: list[str] = []
    for source in sources:
        try:
            for index, document in _documents(source):
                try:
                    conversions = list(convert_documents([document], mode=args.mode))
                except ConversionError as error:
                    failures.append(f"{_label(source)}, document {index + 1}: {error}")
                    continue
                for conversion in conversions:
                    converted.append(conversion.autoscaler)
                    for note in conversion.notes:
                        print(f"podpilot convert: {_label(source)}: {note}", file=sys.stderr)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            failures.append(f"{_label(source)}: cannot read: {unreadable(error)}")

    if failures:
        # Nothing is written when anything failed, so a pipe into kubectl apply is all or none.
        for failure in failures[:-1]:
            print(f"podpilot convert: error: {failure}", file=sys.stderr)
        raise CommandError(failures[-1])
    if not converted:
        raise CommandError("no HorizontalPodAutoscaler found in the input")
    write_output(_rendered(converted, args.output), args.output_file)
    return EXIT_OK


def _rendered(autoscalers: list[dict[str, Any]], output: str) -> str:
    """YAML as a multi-document stream (what ``kubectl apply -f -`` reads); JSON as one object,
    or a ``List`` of several, as ``kubectl get -o json`` prints them; a name per line."""
    if output == "yaml":
        return yaml.dump_all(
            autoscalers, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False
        )
    return render(autoscalers[0] if len(autoscalers) == 1 else as_list(autoscalers), output)


def _documents(source: str) -> Iterator[tuple[int, object]]:
    """Each document of ``source`` as it is parsed: the input is never held whole as text."""
    if source == STDIN:
        yield from enumerate(yaml.load_all(sys.stdin, Loader=_LOADER))
        return
    with open(source, encoding="utf-8") as stream:
        yield from enumerate(yaml.load_all(stream, Loader=_LOADER))


def _label(source: str) -> str:
    return "stdin" if source == STDIN else source
