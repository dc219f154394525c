"""``podpilot run`` flags that become OperatorSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpilot.cli import build_parser, main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_USAGE
from podpilot.commands.run import hpa_arguments, settings_from
from podpilot.settings import HpaSettings, KubeconfigSelection, OperatorSettings, PrometheusLimits


def test_run_takes_the_api_timeout_as_a_setting() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).api_timeout == 30.0
    assert settings_from(parser.parse_args(["run", "--api-timeout", "7.5"])).api_timeout == 7.5


def test_run_takes_the_status_heartbeat_as_a_go_duration() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).status_heartbeat == 300.0
    given = parser.parse_args(["run", "--status-heartbeat=1m30s"])
    assert settings_from(given).status_heartbeat == 90.0
    assert settings_from(parser.parse_args(["run", "--status-heartbeat=0s"])).status_heartbeat == 0


@pytest.mark.parametrize("value", ["90", "-1m", "soon"])
def test_a_status_heartbeat_that_is_not_a_duration_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    said = usage_error("--status-heartbeat", value, capsys)
    assert f"{value!r}" in said
    assert "Traceback" not in said


def usage_error(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``podpilot run`` says on stderr when ``flag=value`` is a usage error."""
    with pytest.raises(SystemExit) as exited:
        build_parser(only="run").parse_args(["run", f"{flag}={value}"])
    assert exited.value.code == EXIT_USAGE
    return capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "30s"])
def test_an_api_timeout_that_is_not_a_positive_number_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"{value!r}" in usage_error("--api-timeout", value, capsys)


def test_run_takes_the_prometheus_guardrails_as_settings() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).prometheus_limits == PrometheusLimits()
    args = [
        "run",
        "--prometheus-max-response-bytes=2048",
        "--prometheus-max-series=5",
        "--prometheus-max-query-seconds=3.5",
        "--prometheus-per-server-concurrency=1",
        "--prometheus-per-namespace-concurrency=3",
        "--prometheus-allowed-url=https://prom.monitoring.svc:9090/",
        "--prometheus-allowed-url=thanos.monitoring.svc",
    ]
    assert settings_from(parser.parse_args(args)).prometheus_limits == PrometheusLimits(
        max_response_bytes=2048,
        max_series=5,
        max_query_seconds=3.5,
        per_server_concurrency=1,
        per_namespace_concurrency=3,
        allowed_urls=("https://prom.monitoring.svc:9090/", "thanos.monitoring.svc"),
    )


def test_run_refuses_a_guardrail_that_allows_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--prometheus-max-series=0"])
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "podpilot run: error: argument --prometheus-max-series: '0': a limit is from 1 to "
        "9223372036854775807 (see 'podpilot run --help')"
    ]


@pytest.mark.parametrize(
    "flags",
    [
        ["--standalone", "--shards=2"],
        ["--leader-election-renew-deadline=20"],
        ["--bogus"],
        ["--metrics-port=abc"],
    ],
    ids=["shards-without-election", "renew-deadline-past-lease", "unknown-flag", "not-a-number"],
)
def test_a_wrong_command_line_is_one_line_and_exit_status_2(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["run", *flags])
    except SystemExit as exited:  # argparse's own mistakes end the process from the parser
        code = int(str(exited.code))
    assert code == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("podpilot run: error: ")


def parse(*args: str) -> OperatorSettings:
    return settings_from(build_parser(only="run").parse_args(["run", *args]))


def test_hpa_settings_take_go_durations_under_kube_controller_managers_names() -> None:
    hpa = parse(
        "--horizontal-pod-autoscaler-cpu-initialization-period=5m",
        "--horizontal-pod-autoscaler-initial-readiness-delay=1m30s",
        "--horizontal-pod-autoscaler-tolerance=0.05",
        "--horizontal-pod-autoscaler-downscale-stabilization=30s",
    ).hpa

    assert hpa == HpaSettings(
        cpu_initialization_period=300.0,
        initial_readiness_delay=90.0,
        tolerance=0.05,
        downscale_stabilization=30.0,
    )


def test_the_old_hpa_flag_names_still_work_and_say_they_are_deprecated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hpa = parse("--downscale-stabilization=45", "--cpu-initialization-period=2m").hpa

    assert (hpa.downscale_stabilization, hpa.cpu_initialization_period) == (45.0, 120.0)
    assert capsys.readouterr().err.splitlines() == [
        "podpilot run: warning: --downscale-stabilization is deprecated, use "
        "--horizontal-pod-autoscaler-downscale-stabilization",
        "podpilot run: warning: --cpu-initialization-period is deprecated, use "
        "--horizontal-pod-autoscaler-cpu-initialization-period",
    ]


@pytest.mark.parametrize("value", ["300", "5 minutes", "-1s"])
def test_a_duration_that_is_not_a_go_duration_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(f"--horizontal-pod-autoscaler-downscale-stabilization={value}")

    assert exited.value.code == EXIT_USAGE
    assert f"{value!r}" in capsys.readouterr().err


def test_hpa_arguments_give_run_the_settings_back() -> None:
    settings = HpaSettings(30.0, 5.0, 0.2, 3600.0)

    arguments = hpa_arguments(settings)

    assert arguments[0] == "--horizontal-pod-autoscaler-cpu-initialization-period=30s"
    assert "--horizontal-pod-autoscaler-downscale-stabilization=1h0m0s" in arguments
    assert parse(*arguments).hpa == settings


def test_run_takes_kubectls_connection_flags() -> None:
    settings = parse("--kubeconfig", "a:b", "--context", "kind-x", "-n", "one", "-n", "two")

    assert settings.kubeconfig == KubeconfigSelection(paths="a:b", context="kind-x")
    assert settings.namespaces == ("one", "two")


def test_run_without_credentials_ends_in_one_line_before_kopf_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"

    assert main(["run", "--kubeconfig", str(missing)]) == EXIT_FAILED

    assert capsys.readouterr().err.splitlines() == [
        f"podpilot run: error: cannot load the API credentials: no kubeconfig file found at "
        f"{missing}"
    ]


def test_an_unknown_controller_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--controllers", "autoscaler,hpa"]) == EXIT_USAGE
    assert (
        capsys.readouterr().err == "podpilot run: error: --controllers: unknown controllers: hpa\n"
    )


@pytest.mark.parametrize("value", ["team-*", "Team", "-a", "a" * 64, ""])
def test_a_namespace_that_is_a_pattern_or_no_name_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "is not a namespace name" in usage_error("--namespace", value, capsys)
