"""The ``podpilot`` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    describe_exit_status,
)

# Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
# ``run(args) -> int``. They are imported lazily so that ``podpilot convert`` does not pay for
# importing kopf, and a broken optional module cannot break the others.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("podpilot.commands.run", "run the operator (all controllers) in the foreground"),
    "convert": ("podpilot.commands.convert", "turn HPA manifests into Autoscaler manifests"),
    "explain": ("podpilot.commands.explain", "print Autoscalers' last decisions in words"),
    "backtest": (
        "podpilot.commands.backtest",
        "replay Autoscaler specs over a workload's history from Prometheus",
    ),
    "recommend": (
        "podpilot.commands.recommend",
        "search the spec that keeps load under a ceiling at the fewest replica-minutes",
    ),
    "takeover": (
        "podpilot.commands.takeover",
        "hand a workload from its HPA to an Autoscaler (or back, --undo)",
    ),
}


class CommandLineParser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line said in one line as every other failure
    is: the command, the mistake, and where its help is (argparse prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, usage_line(self.prog, message) + "\n")


def usage_line(prog: str, message: str) -> str:
    return f"{prog}: error: {message} (see '{prog} --help')"


AddArguments = Callable[[argparse.ArgumentParser], None]
RunCommand = Callable[[argparse.Namespace], int]


def _load(module_name: str) -> tuple[AddArguments, RunCommand]:
    module = importlib.import_module(module_name)
    return module.add_arguments, module.run


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("podpilot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="podpilot",
        description="podpilot: the operator and its tools, one subcommand per job.",
    )
    describe_exit_status(parser)
    parser.add_argument("--version", action="version", version=f"podpilot {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        describe_exit_status(sub_parser)
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
    """Run one subcommand; a failure the user can act on is one line and an exit status
    (``EXIT_STATUS``), never a traceback."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    requested = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(only=requested if requested in SUBCOMMANDS else None)
    if requested is None and (unknown := _unknown_flags_before_a_command(arguments)):
        print(
            usage_line("podpilot", f"unrecognized arguments: {' '.join(unknown)}"), file=sys.stderr
        )
        return EXIT_USAGE
    args, unrecognized = parser.parse_known_args(arguments)
    if unrecognized:  # named after the command they were given to: podpilot, or its subcommand
        given_to_podpilot = arguments.index(unrecognized[0]) < arguments.index(args.command)
        prog = "podpilot" if given_to_podpilot else f"podpilot {args.command}"
        print(
            usage_line(prog, f"unrecognized arguments: {' '.join(unrecognized)}"), file=sys.stderr
        )
        return EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.error(f"'{args.command}' is not available in this build")
    if args.command != "run":
        # A kubeconfig's insecure-skip-tls-verify is the user's choice; kubectl says nothing
        # of it, where urllib3 would warn in two lines on every call.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    try:
        result: int = handler(args)
    except CommandError as failure:
        print(f"podpilot {args.command}: error: {failure}", file=sys.stderr)
        return failure.exit_status
    except KeyboardInterrupt:
        print(f"podpilot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``podpilot convert | head``): nothing left to tell anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:
        # A bug. The operator's log keeps the traceback; a command's user gets one line.
        if args.command == "run" or os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        print(f"podpilot {args.command}: error: {internal_error(error)}", file=sys.stderr)
        return EXIT_FAILED
    return result


TRACEBACK_VARIABLE = "PODPILOT_TRACEBACK"
_TOP_LEVEL_FLAGS = ("-h", "--help", "--version")


def _unknown_flags_before_a_command(arguments: Sequence[str]) -> list[str]:
    """Flags given without a command that ``podpilot`` itself does not take: argparse would
    only say that a command is missing."""
    return [a for a in arguments if a.startswith("-") and a not in _TOP_LEVEL_FLAGS]


def internal_error(error: Exception) -> str:
    """One line for an exception no command expected."""
    words = " ".join(str(error).split())[:200]
    return (
        f"internal error ({type(error).__name__}{': ' + words if words else ''}); this is a "
        f"bug in podpilot: please report it with the output of the same command run with "
        f"{TRACEBACK_VARIABLE}=1"
    )
