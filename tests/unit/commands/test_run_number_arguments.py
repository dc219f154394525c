"""The number types of ``podpilot run``'s flags: a value, or argparse's one-line reason."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from podpilot.cli import build_parser
from podpilot.commands.conventions import (
    LARGEST_WHOLE_NUMBER,
    SMALLEST_WHOLE_NUMBER,
    go_duration,
    go_duration_text,
    go_duration_timeout,
    non_negative_number,
    whole_number_within,
)
from podpilot.commands.run import (
    MAX_SHARDS,
    peering_lifetime,
    peering_priority,
    positive_limit,
    positive_seconds,
    settings_from,
    shard_count,
    worker_count,
)
from podpilot.settings import PrometheusLimits

TIMEOUT_BOUNDS = (
    "a timeout must be at least 0.001 seconds (1ms) and at most 86400 seconds (24h0m0s); "
    "podpilot always bounds a call"
)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (non_negative_number, "0", 0.0),
        (non_negative_number, "0.25", 0.25),
        (positive_seconds, "7.5", 7.5),
        (shard_count, "1", 1),
        (shard_count, str(MAX_SHARDS), MAX_SHARDS),
    ],
)
def test_a_value_in_range_is_read(
    parse: Callable[[str], float], text: str, expected: float
) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (non_negative_number, "ten", "'ten' is not a number"),
        (non_negative_number, "-0.1", "'-0.1': cannot be negative"),
        (non_negative_number, "nan", "'nan' is not a number"),
        (positive_seconds, "30s", "'30s' is not a number of seconds"),
        (positive_seconds, "0", f"'0': {TIMEOUT_BOUNDS}"),
        (positive_seconds, "inf", "'inf' is not a number of seconds"),
        (positive_seconds, "nan", "'nan' is not a number of seconds"),
        (positive_seconds, "1e10", f"'1e10': {TIMEOUT_BOUNDS}"),
        (shard_count, "1.5", "'1.5' is not a whole number (a shard count)"),
        (shard_count, "0", f"'0': a shard count is from 1 to {MAX_SHARDS}"),
        (
            shard_count,
            str(MAX_SHARDS + 1),
            f"'{MAX_SHARDS + 1}': a shard count is from 1 to {MAX_SHARDS}",
        ),
    ],
)
def test_a_value_that_is_not_a_number_or_out_of_range_says_why(
    parse: Callable[[str], float], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (peering_priority, "-5", -5),
        (peering_priority, "+7", 7),
        (peering_priority, str(LARGEST_WHOLE_NUMBER), LARGEST_WHOLE_NUMBER),
        (peering_priority, str(SMALLEST_WHOLE_NUMBER), SMALLEST_WHOLE_NUMBER),
        (peering_lifetime, "15", 15),
        (peering_lifetime, "3600", 3600),
        (worker_count, "1", 1),
        (positive_limit, "010", 10),
    ],
)
def test_a_whole_number_in_range_is_read(
    parse: Callable[[str], int], text: str, expected: int
) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8_080", "'8_080' is not a whole number (a port)"),
        (" 80", "' 80' is not a whole number (a port)"),
        ("80\n", "'80\\n' is not a whole number (a port)"),
        ("\uff18\uff10", "'\uff18\uff10' is not a whole number (a port)"),  # fullwidth 80
        ("1e3", "'1e3' is not a whole number (a port)"),
        ("", "'' is not a whole number (a port)"),
        ("-", "'-' is not a whole number (a port)"),
        ("9" * 5000, f"'{'9' * 5000}': a port is from 1 to 65535"),  # past int()'s digit limit
    ],
)
def test_a_whole_number_is_ascii_digits_with_an_optional_sign(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        whole_number_within(text, "a port", 1, 65535)

    assert str(raised.value) == message


def _subcommand_parser(command: str) -> argparse.ArgumentParser:
    (subcommands,) = (
        action
        for action in build_parser(only=command)._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = subcommands.choices[command]
    return parser


@pytest.mark.parametrize("command", ["run", "takeover", "explain", "backtest"])
def test_every_default_passes_its_own_flags_check(command: str) -> None:
    """A default the flag would refuse if written out is a bound or a default gone wrong."""
    checked = 0
    for action in _subcommand_parser(command)._actions:
        default = action.default
        if action.type is None or not isinstance(default, (int, float)):
            continue
        parse: Callable[[str], object] = action.type  # type: ignore[assignment]
        is_go_duration = parse in (go_duration, go_duration_timeout)
        written = go_duration_text(default) if is_go_duration else str(default)
        assert parse(written) == default, action.option_strings
        checked += 1
    assert checked


def test_run_parses_without_flags_to_its_defaults() -> None:
    args = build_parser(only="run").parse_args(["run"])

    assert args.priority is None
    assert (args.peering_lifetime, args.prometheus_concurrency) == (60, 8)
    assert settings_from(args).prometheus_limits == PrometheusLimits()


def test_a_negative_priority_is_taken_as_a_separate_argument() -> None:
    args = build_parser(only="run").parse_args(["run", "--priority", "-5"])

    assert settings_from(args).peering_priority == -5
