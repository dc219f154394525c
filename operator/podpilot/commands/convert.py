"""``podpilot convert``: HorizontalPodAutoscaler manifests in, Autoscaler manifests out."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from podpilot.autoscaler.api.conversion import (
    HPA_KIND,
    MODES,
    Conversion,
    ConversionError,
    convert_hpa,
    objects_of,
    require_name,
)
from podpilot.autoscaler.api.spec import SpecError, parse_spec
from podpilot.commands import spec_shape
from podpilot.commands.conventions import (
    EXIT_OK,
    CommandError,
    add_output_arguments,
    as_list,
    render,
    write_output,
)
from podpilot.commands.go_yaml import YAML_DUMPER
from podpilot.commands.manifests import (
    STDIN,
    ManifestError,
    manifest_files,
    read_manifests,
    require_json,
    source_label,
    unreadable,
)

OUTPUT_FORMATS = ("yaml", "json", "name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="HPA manifests (multi-document YAML, or a List), or directories of them (their "
        ".json, .yaml and .yml files); '-' or nothing reads stdin",
    )
    parser.add_argument(
        "-f",
        "--filename",
        dest="filenames",
        action="append",
        default=[],
        metavar="FILE",
        help="an HPA manifest or a directory of them, as kubectl convert -f takes it "
        "(repeatable; '-' reads stdin)",
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
        _convert_source(source, args.mode, converted, failures)

    if failures:
        # Nothing is written when anything failed, so a pipe into kubectl apply is all or none.
        for failure in failures[:-1]:
            print(f"podpilot convert: error: {failure}", file=sys.stderr)
        raise CommandError(failures[-1])
    if not converted:
        raise CommandError("no HorizontalPodAutoscaler found in the input")
    write_output(_rendered(converted, args.output), args.output_file)
    return EXIT_OK


def _convert_source(
    source: str, mode: str | None, converted: list[dict[str, Any]], failures: list[str]
) -> None:
    """Append each Autoscaler of ``source`` (a file, stdin, or a directory's files) to
    ``converted``, or why not to ``failures``."""
    try:
        files = manifest_files(source)
    except OSError as error:
        failures.append(f"{source_label(source)}: cannot read: {unreadable(error)}")
        return
    for file in files:
        _convert_file(file, mode, converted, failures)


def _convert_file(
    file: str, mode: str | None, converted: list[dict[str, Any]], failures: list[str]
) -> None:
    """Append each Autoscaler of ``file`` to ``converted``, or why not to ``failures``: every
    document is tried, so that one run lists every document at fault."""
    label = source_label(file)
    try:
        for index, document in enumerate(read_manifests(file)):
            try:
                conversions = _conversions(document, mode)
            except (ConversionError, ManifestError, SpecError) as error:
                failures.append(f"{label}, document {index + 1}: {error}")
                continue
            for conversion in conversions:
                converted.append(conversion.autoscaler)
                for note in conversion.notes:
                    print(f"podpilot convert: {label}: {note}", file=sys.stderr)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        failures.append(f"{label}: cannot read: {unreadable(error)}")


def _conversions(document: object, mode: str | None) -> list[Conversion]:
    """The Autoscalers of one document (none, one, or a List's), each refused as ``backtest``
    refuses a spec: a field of the wrong type, or a spec that would not parse."""
    require_json(document)
    return [_checked_conversion(item, mode) for item in objects_of(document)]


def _checked_conversion(item: object, mode: str | None) -> Conversion:
    if isinstance(item, Mapping) and item.get("kind") == HPA_KIND:
        # Checked before it is converted, so that an error names the field the HPA has.
        item = spec_shape.checked(item)
    conversion = convert_hpa(item, mode=mode)
    require_name(conversion.autoscaler)
    try:
        parse_spec(conversion.autoscaler["spec"])
    except KeyError as error:
        raise SpecError(f"spec.{error.args[0]} is required") from None
    except ValueError as error:  # an unknown enum value: "'Sometimes' is not a valid Mode"
        raise SpecError(str(error)) from None
    return conversion


def _rendered(autoscalers: list[dict[str, Any]], output: str) -> str:
    """YAML as a multi-document stream (what ``kubectl apply -f -`` reads); JSON as one object,
    or a ``List`` of several, as ``kubectl get -o json`` prints them; a name per line."""
    if output == "yaml":
        return yaml.dump_all(
            autoscalers, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False
        )
    return render(autoscalers[0] if len(autoscalers) == 1 else as_list(autoscalers), output)
