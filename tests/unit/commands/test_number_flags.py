"""Number flags: ``float`` reads nan and inf, which no flag means; each is refused by the
parser in one line with exit status 2, as is a timeout of 0 (podpilot always bounds a call)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests import backtest_history as known
from tests.unit.commands.usage_errors import usage_error

from podpilot.commands import backtest_inputs
from podpilot.commands.conventions import (
    EXIT_USAGE,
    CommandError,
    go_duration_timeout,
    request_timeout,
)
from podpilot.commands.run import positive_seconds


@pytest.mark.parametrize("command", ["explain", "takeover"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e400", "NaN"])
def test_a_request_timeout_that_is_no_duration_is_a_usage_error(
    command: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, *(["hpa"] if command == "takeover" else []), "web"]
    argv += ["--kubeconfig", str(tmp_path / "missing"), f"--request-timeout={value}"]

    line = usage_error(argv, capsys)

    assert line.startswith(f"podpilot {command}: error: argument --request-timeout: '{value}'")
    assert line.endswith(f"(see 'podpilot {command} --help')")


def test_a_request_timeout_of_zero_says_why_it_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = usage_error(["explain", "web", "--request-timeout", "0"], capsys)

    assert line == (
        "podpilot explain: error: argument --request-timeout: '0': a timeout must be at least "
        "0.001 seconds (1ms) and at most 86400 seconds (24h0m0s); podpilot always bounds a call "
        "(see 'podpilot explain --help')"
    )


def test_a_request_timeout_too_long_for_a_socket_is_refused() -> None:
    assert request_timeout("24h") == 86400.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"at most 86400 seconds \(24h0m0s\)"):
        request_timeout("1e12")


@pytest.mark.parametrize("text", ["0", "-0", "1e12"])
def test_api_timeout_and_request_timeout_state_their_bounds_alike(text: str) -> None:
    """One bound (above 0, at most a day), one wording, whichever flag takes the timeout."""
    refusals = []
    for parse in (request_timeout, positive_seconds):
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            parse(text)
        refusals.append(str(raised.value))
    assert refusals[0] == refusals[1]


def write_spec(tmp_path: Path) -> str:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(known.autoscaler()), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "1e400", "-9" + "9" * 400 + "h"])
@pytest.mark.parametrize("flag", ["--from", "--to"])
def test_a_time_that_is_not_finite_is_a_usage_error(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "-f", write_spec(tmp_path), "--prometheus", "http://127.0.0.1:9"]

    line = usage_error([*argv, f"{flag}={value}"], capsys)

    assert line.startswith(f"podpilot backtest: error: argument {flag}: '{value}' is not a time")


# 253402300800: 10000-01-01T00:00:00Z. An RFC 3339 time in year 10000 in UTC
# (9999-12-31T23:59:59-05:00) is no timestamp at all: tests/unit/apimachinery.
@pytest.mark.parametrize("start", ["1e15", "-999999h", "253402300800"])
def test_a_time_no_timestamp_can_name_is_a_usage_error(start: str) -> None:
    args = argparse.Namespace(start=start, end="now", step=15.0)

    with pytest.raises(CommandError) as raised:
        backtest_inputs.window(args, now=1_800_000_000.0)

    assert raised.value.exit_status == EXIT_USAGE
    assert str(raised.value) == f"--from {start}: not between 1970 and the year 9999"


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--horizontal-pod-autoscaler-tolerance=nan"],
        ["recommend", "--ceiling=80%", "--allowed-over=nan"],
        ["recommend", "--ceiling=inf%"],
    ],
    ids=["backtest-tolerance", "recommend-allowed-over", "recommend-ceiling"],
)
def test_the_replays_number_flags_refuse_nan_and_inf(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, *flags = argv
    base = [command, "-f", write_spec(tmp_path), "--prometheus", "http://127.0.0.1:9"]

    line = usage_error([*base, *flags], capsys)

    assert line.startswith(f"podpilot {command}: error: argument --")


def test_takeovers_threshold_refuses_nan(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(["takeover", "hpa", "web", "--threshold=nan"], capsys)

    assert line == (
        "podpilot takeover: error: argument --threshold: 'nan' is not a number "
        "(see 'podpilot takeover --help')"
    )


@pytest.mark.parametrize(
    "flag",
    [
        "--flannel-debounce=nan",
        "--flannel-resync=inf",
        "--leader-election-lease-duration=nan",
        "--prometheus-max-query-seconds=nan",
        "--horizontal-pod-autoscaler-tolerance=nan",
        "--tolerance=inf",
        "--downscale-stabilization=-30",
        "--downscale-stabilization=nan",
        "--horizontal-pod-autoscaler-downscale-stabilization=" + "9" * 400 + "h",
        "--api-timeout=nan",
    ],
)
def test_runs_number_flags_refuse_nan_inf_and_negative_durations(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = usage_error(["run", flag], capsys)

    assert line.startswith(f"podpilot run: error: argument {flag.split('=')[0]}: ")


TIMEOUT_BOUNDS = (
    "a timeout must be at least 0.001 seconds (1ms) and at most 86400 seconds (24h0m0s); "
    "podpilot always bounds a call"
)
INT64_MAX = "9223372036854775807"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "--prometheus-concurrency=0"],
            f"'0': a number of workers is from 1 to {INT64_MAX}",
        ),
        (
            ["run", "--prometheus-concurrency", "-1"],
            f"'-1': a number of workers is from 1 to {INT64_MAX}",
        ),
        (
            ["run", "--prometheus-per-server-concurrency=0"],
            f"'0': a number of workers is from 1 to {INT64_MAX}",
        ),
        (["run", "--prometheus-max-response-bytes=0"], f"'0': a limit is from 1 to {INT64_MAX}"),
        (["run", "--peering-lifetime", "-5"], "'-5': a peering lifetime is from 15 to 3600"),
        (["run", "--peering-lifetime=0"], "'0': a peering lifetime is from 15 to 3600"),
        (["run", "--peering-lifetime=14"], "'14': a peering lifetime is from 15 to 3600"),
        (["run", "--peering-lifetime=3601"], "'3601': a peering lifetime is from 15 to 3600"),
        (["run", "--peering-lifetime=60s"], "'60s' is not a whole number (a peering lifetime)"),
        (["run", "--priority=1.5"], "'1.5' is not a whole number (a peering priority)"),
        (
            ["run", f"--priority={2**63}"],
            f"'{2**63}': a peering priority is from -{2**63} to {INT64_MAX}",
        ),
        (["run", "--metrics-port=8_080"], "'8_080' is not a whole number (a port)"),
        (["run", "--health-port= 80 "], "' 80 ' is not a whole number (a port)"),
        (["run", "--api-timeout", "-1"], f"'-1': {TIMEOUT_BOUNDS}"),
        (["run", "--api-timeout=0"], f"'0': {TIMEOUT_BOUNDS}"),
        (["run", "--api-timeout=1e-9"], f"'1e-9': {TIMEOUT_BOUNDS}"),
        (["run", "--prometheus-max-query-seconds=0"], f"'0': {TIMEOUT_BOUNDS}"),
        (["run", "--prometheus-max-query-seconds=-1"], f"'-1': {TIMEOUT_BOUNDS}"),
        (["explain", "web", "--request-timeout", "-1"], f"'-1': {TIMEOUT_BOUNDS}"),
        (["explain", "web", "--request-timeout=-1s"], f"'-1s': {TIMEOUT_BOUNDS}"),
        (["explain", "web", "--request-timeout=1ns"], f"'1ns': {TIMEOUT_BOUNDS}"),
        (["explain", "web", "--request-timeout=1e-9"], f"'1e-9': {TIMEOUT_BOUNDS}"),
        (["takeover", "hpa", "web", "--request-timeout=1ns"], f"'1ns': {TIMEOUT_BOUNDS}"),
        (
            ["takeover", "hpa", "web", "--min-evaluations=-1"],
            f"'-1': a number of evaluations is from 0 to {INT64_MAX}",
        ),
        (
            ["takeover", "hpa", "web", "--min-evaluations=2.5"],
            "'2.5' is not a whole number (a number of evaluations)",
        ),
    ],
)
def test_a_flag_out_of_its_range_is_one_argparse_line_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = argv[0]
    flag = next(arg for arg in argv if arg.startswith("--")).split("=")[0]

    line = usage_error(argv, capsys)

    assert line == (
        f"podpilot {command}: error: argument {flag}: {message} (see 'podpilot {command} --help')"
    )


@pytest.mark.parametrize("value", ["0s", "-1s", "1ns", "999us", "25h"])
def test_backtests_timeout_is_bounded_as_every_timeout(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "-f", write_spec(tmp_path), "--prometheus", "http://127.0.0.1:9"]

    line = usage_error([*argv, f"--timeout={value}"], capsys)

    assert line == (
        f"podpilot backtest: error: argument --timeout: '{value}': {TIMEOUT_BOUNDS} "
        "(see 'podpilot backtest --help')"
    )


SECONDS_OUT_OF_BOUNDS = ["-1", "0", "-0", "1e-9", "0.0009", "86401"]
DURATIONS_OUT_OF_BOUNDS = ["-1s", "0", "0s", "1ns", "999us", "24h0m1s"]


@pytest.mark.parametrize(
    ("parse", "text"),
    [(request_timeout, text) for text in SECONDS_OUT_OF_BOUNDS + DURATIONS_OUT_OF_BOUNDS]
    + [(positive_seconds, text) for text in SECONDS_OUT_OF_BOUNDS]
    + [(go_duration_timeout, text) for text in DURATIONS_OUT_OF_BOUNDS],
)
def test_every_timeout_flag_refuses_in_the_same_words(
    parse: Callable[[str], float], text: str
) -> None:
    """Negative, zero, below a millisecond or above a day: one refusal, whichever the flag."""
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)

    assert str(raised.value) == f"{text!r}: {TIMEOUT_BOUNDS}"


def test_the_shortest_and_longest_timeouts_are_taken() -> None:
    assert request_timeout("1ms") == pytest.approx(0.001)
    assert request_timeout("0.001") == pytest.approx(0.001)
    assert positive_seconds("86400") == 86400.0
    assert go_duration_timeout("24h") == 86400.0


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--prometheus", "127.0.0.1:9090"], "is not an http(s) URL with a host"),
        (["--prometheus", ""], "is not an http(s) URL with a host"),
        (["--rate-window", "abc"], "is not a Prometheus duration above zero"),
        (["--rate-window", "0m"], "is not a Prometheus duration above zero"),
        (["--cpu-usage-metric", 'up{x="1"}'], "is not a Prometheus metric name"),
    ],
    ids=["no-scheme", "empty-url", "no-duration", "zero-window", "not-a-name"],
)
def test_the_history_flags_are_checked_before_any_query(
    flags: list[str], complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["backtest", "-f", write_spec(tmp_path), "--prometheus", "http://127.0.0.1:9"]

    line = usage_error([*base, *flags], capsys)

    assert line.startswith("podpilot backtest: error: argument --")
    assert complaint in line


def test_the_share_of_time_over_the_ceiling_is_at_most_all_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["recommend", "-f", write_spec(tmp_path), "--prometheus", "http://127.0.0.1:9"]

    line = usage_error([*base, "--ceiling=80%", "--allowed-over=2"], capsys)

    assert "argument --allowed-over: '2' is out of range (0 to 100%)" in line
