"""The ``podpilot`` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from podpilot.commands.conventions import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    describe_exit_status,
    printable,
    write_all,
)

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

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
    is: the command, the mistake, and where its help is (argparse prints the whole usage).

    A long flag is taken only whole, as kubectl (pflag) takes it: argparse would read
    ``--request-t`` as ``--request-timeout``, and a flag added later could change what an
    abbreviation in a script means. Subcommands' parsers are of this class too, so each
    refuses abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, usage_line(self.prog, message) + "\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # Python decodes the bytes of an argument that are not UTF-8 as lone surrogates, which
        # fail later, wherever the text is encoded (a URL, an HTTP header): refused here in one
        # line, except in a file's name, which may be any bytes.
        if not _is_text(arg_string) and not _takes_any_bytes(action):
            raise argparse.ArgumentError(action, f"'{printable(arg_string)}' is not UTF-8 text")
        return super()._get_value(action, arg_string)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse ignores a write that fails: --help into a closed pipe is then as any output.
        # A stream closed from the start (2>&-: sys.stderr is None) has nothing to write to.
        target = file or sys.stderr
        if message and target is not None:
            write_all(target, message)


def usage_line(prog: str, message: str) -> str:
    return f"{prog}: error: {message} (see '{prog} --help')"


# The metavars of the arguments that name files.
FILE_METAVARS = frozenset({"FILE", "FILES", "PATH"})


def _takes_any_bytes(action: argparse.Action) -> bool:
    """Whether the argument names a file, or is the subcommand's (whose parser checks them)."""
    return action.nargs == argparse.PARSER or action.metavar in FILE_METAVARS


def _is_text(argument: str) -> bool:
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


AddArguments = Callable[[argparse.ArgumentParser], None]
RunCommand = Callable[[argparse.Namespace], int]
Result = TypeVar("Result")


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


# A shell's status for a process killed by SIGPIPE (128 + 13), which kubectl, as any Go program,
# is when the reader of its stdout went away: `set -o pipefail` and `$PIPESTATUS` see the same.
EXIT_OUTPUT_CLOSED = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a failure the user can act on is one line and an exit status
    (``EXIT_STATUS``), never a traceback. When the reader of stdout goes away before all of it
    is written (``podpilot convert | head -1``), nothing is said and the status is
    ``EXIT_OUTPUT_CLOSED``, whenever the pipe closed."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parsed = _quiet_when_output_closed(lambda: _parsed(arguments))
    if isinstance(parsed, int):
        return parsed
    if parsed.command == "run":
        # A server, which writes a log, not output for a reader: a broken pipe there is a
        # socket's, a bug whose traceback the log keeps.
        return _run_command(parsed)
    return _quiet_when_output_closed(lambda: _run_command(parsed))


def _quiet_when_output_closed(work: Callable[[], Result]) -> Result | int:
    """``work()``, or ``EXIT_OUTPUT_CLOSED`` when the reader of stdout went away meanwhile."""
    try:
        try:
            return work()
        finally:
            # Here rather than at exit, where Python would only print "Exception ignored".
            if sys.stdout is not None:  # None: started with stdout closed (>&-)
                sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OUTPUT_CLOSED


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that Python's last flush at exit, of what is left in its
    buffer, cannot fail on the closed pipe and print "Exception ignored ... BrokenPipeError"
    (the recipe of Python's documentation of SIGPIPE)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _parsed(arguments: list[str]) -> argparse.Namespace | int:
    """The command line, parsed; or, when it is wrong, its exit status after one line."""
    if mistake := _flags_before_the_command(arguments):
        print(usage_line("podpilot", mistake), file=sys.stderr)
        return EXIT_USAGE
    requested = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(only=requested if requested in SUBCOMMANDS else None)
    args, unrecognized = parser.parse_known_args(arguments)
    if unrecognized:  # named after the command they were given to: podpilot, or its subcommand
        given_to_podpilot = arguments.index(unrecognized[0]) < arguments.index(args.command)
        prog = "podpilot" if given_to_podpilot else f"podpilot {args.command}"
        print(
            usage_line(prog, f"unrecognized arguments: {' '.join(unrecognized)}"), file=sys.stderr
        )
        return EXIT_USAGE
    if getattr(args, "handler", None) is None:
        parser.error(f"'{args.command}' is not available in this build")
    return args


def _run_command(args: argparse.Namespace) -> int:
    handler: RunCommand = args.handler
    if args.command != "run":
        # A kubeconfig's insecure-skip-tls-verify is the user's choice; kubectl says nothing
        # of it, where urllib3 would warn in two lines on every call.
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    try:
        return handler(args)
    except CommandError as failure:
        print(f"podpilot {args.command}: error: {failure}", file=sys.stderr)
        return failure.exit_status
    except KeyboardInterrupt:
        print(f"podpilot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away: main says nothing. (From `run`, a bug: let through
        # with its traceback, as below.)
        raise
    except Exception as error:
        # A bug. The operator's log keeps the traceback; a command's user gets one line.
        if args.command == "run" or os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        print(f"podpilot {args.command}: error: {internal_error(error)}", file=sys.stderr)
        return EXIT_FAILED


TRACEBACK_VARIABLE = "PODPILOT_TRACEBACK"
_TOP_LEVEL_FLAGS = ("-h", "--help", "--version")


def _flags_before_the_command(arguments: Sequence[str]) -> str | None:
    """What is wrong with flags given before the command, where kubectl takes its global flags
    (``podpilot --context c explain``): the command line as podpilot takes it, when the command
    takes them all; else, those it does not take, with their values (argparse cannot tell how
    many values a flag it does not know takes, and reads ``c`` in ``podpilot --context c
    convert`` as the command). None when there are none, or when podpilot's own are among them
    (``podpilot --help run``): argparse answers."""
    flags = _CommandFlags()
    groups, position = _flags_and_values(arguments, flags)
    command = arguments[position] if position < len(arguments) else None
    if command not in SUBCOMMANDS:
        command = None  # none, or one argparse says is not a command
    own = [group for group in groups if group[0] in _TOP_LEVEL_FLAGS]
    if own and command is not None:
        return None
    unknown = [
        argument
        for group in groups
        if group not in own and (command is None or not flags.takes(command, group[0]))
        for argument in group
    ]
    if unknown:
        return f"unrecognized arguments: {printable(' '.join(unknown))}"
    if command is None or not groups:
        return None
    reordered = ["podpilot", command, *arguments[:position], *arguments[position + 1 :]]
    return f"flags go after the command: {printable(shlex.join(reordered))}"


def _flags_and_values(
    arguments: Sequence[str], flags: _CommandFlags
) -> tuple[list[list[str]], int]:
    """The flags before the command, each with its values, and where the command is (or what
    argparse reads as the command). A flag a command takes with a value has the next argument
    (``--context c``, not ``--context=c``); one no command knows, the arguments between it and
    the command (``--bogus c convert``)."""
    groups: list[list[str]] = []
    position = 0
    while position < len(arguments) and arguments[position] not in SUBCOMMANDS:
        argument = arguments[position]
        if argument.startswith("-") and argument not in ("-", "--"):
            end = position + 1 + flags.values(argument)
            groups.append(list(arguments[position:end]))
            position = end
        elif groups and flags.unknown(groups[-1][0]) and _a_command_in(arguments[position:]):
            groups[-1].append(argument)
            position += 1
        else:
            break
    return groups, position


class _CommandFlags:
    """The flags each command takes, read from its parser when first asked for."""

    def __init__(self) -> None:
        self._by_command: dict[str, Mapping[str, argparse.Action]] = {}

    def of(self, command: str) -> Mapping[str, argparse.Action]:
        """The flags ``podpilot COMMAND`` takes, by name; none when it is not in this build."""
        if command not in self._by_command:
            parser = CommandLineParser(prog=f"podpilot {command}")
            try:
                add_arguments, _ = _load(SUBCOMMANDS[command][0])
            except ModuleNotFoundError:  # argparse says so
                self._by_command[command] = {}
            else:
                add_arguments(parser)
                self._by_command[command] = parser._option_string_actions
        return self._by_command[command]

    def takes(self, command: str, flag: str) -> bool:
        """Whether ``podpilot COMMAND`` takes ``flag`` (``--context``, ``--context=NAME``)."""
        return _flag_name(flag) in self.of(command)

    def values(self, flag: str) -> int:
        """How many of the arguments after ``flag`` are its value: 1 for a flag the commands
        take with a value, written apart from it; else 0."""
        action = self._action(flag)
        return int(action is not None and action.nargs in (None, 1) and "=" not in flag)

    def unknown(self, flag: str) -> bool:
        """Whether neither podpilot nor any of its commands knows ``flag``."""
        return flag not in _TOP_LEVEL_FLAGS and self._action(flag) is None

    def _action(self, flag: str) -> argparse.Action | None:
        name = _flag_name(flag)
        if name in _TOP_LEVEL_FLAGS:
            return None
        return next((self.of(c)[name] for c in SUBCOMMANDS if name in self.of(c)), None)


def _flag_name(flag: str) -> str:
    return flag.partition("=")[0]


def _a_command_in(arguments: Sequence[str]) -> bool:
    return any(argument in SUBCOMMANDS for argument in arguments)


def internal_error(error: Exception) -> str:
    """One line for an exception no command expected."""
    words = " ".join(str(error).split())[:200]
    return (
        f"internal error ({type(error).__name__}{': ' + words if words else ''}); this is a "
        f"bug in podpilot: please report it with the output of the same command run with "
        f"{TRACEBACK_VARIABLE}=1"
    )
