"""``podpilot convert``: HorizontalPodAutoscaler manifests in, Autoscaler manifests out."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from podpilot.autoscaler.api.conversion import MODES, ConversionError, convert_documents

STDIN = "-"
# libyaml's C loader and dumper when PyYAML was built with them (its wheels are): the pure-Python
# ones take most of a minute on a few megabytes of manifests.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="HPA manifests (multi-document YAML, or a List); '-' or nothing reads stdin",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the Autoscaler manifests here instead of stdout",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="set spec.mode, e.g. DryRun to run beside the existing HPA before switching",
    )


def run(args: argparse.Namespace) -> int:
    sources: list[str] = args.files or [STDIN]
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
        except (OSError, yaml.YAMLError) as error:
            failures.append(f"{_label(source)}: cannot read: {error}")

    if failures:
        # Nothing is written when anything failed, so a pipe into kubectl apply is all or none.
        for failure in failures:
            print(f"podpilot convert: {failure}", file=sys.stderr)
        return 1
    if not converted:
        print("podpilot convert: no HorizontalPodAutoscaler found in the input", file=sys.stderr)
        return 1

    text = yaml.dump_all(converted, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _documents(source: str) -> Iterator[tuple[int, object]]:
    """Each document of ``source`` as it is parsed: the input is never held whole as text."""
    if source == STDIN:
        yield from enumerate(yaml.load_all(sys.stdin, Loader=_LOADER))
        return
    with open(source, encoding="utf-8") as stream:
        yield from enumerate(yaml.load_all(stream, Loader=_LOADER))


def _label(source: str) -> str:
    return "stdin" if source == STDIN else source
