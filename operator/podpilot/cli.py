"""The ``podpilot`` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

# Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
# ``run(args) -> int``. They are imported lazily so that ``podpilot convert`` does not pay for
# importing kopf, and a broken optional module cannot break the others.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("podpilot.commands.run", "run the operator (all controllers) in the foreground"),
    "convert": ("podpilot.commands.convert", "turn HPA manifests into Autoscaler manifests"),
    "explain": ("podpilot.commands.explain", "print an Autoscaler's last decision in words"),
}


AddArguments = Callable[[argparse.ArgumentParser], None]
RunCommand = Callable[[argparse.Namespace], int]


def _load(module_name: str) -> tuple[AddArguments, RunCommand]:
    module = importlib.import_module(module_name)
    return module.add_arguments, module.run


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podpilot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            try:
                add_arguments, run = _load(module_name)
            except ModuleNotFoundError as error:
                if error.name != module_name:
                    raise
                continue
            add_arguments(sub_parser)
            sub_parser.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    arguments = list(sys.argv[1:] if argv is None else argv)
    requested = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(only=requested if requested in SUBCOMMANDS else None)
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"'{args.command}' is not available in this build")
    result: int = handler(args)
    return result
