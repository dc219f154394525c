"""``podpilot run`` flags that become OperatorSettings."""

from __future__ import annotations

import pytest

from podpilot.cli import build_parser
from podpilot.commands.run import settings_from
from podpilot.settings import PrometheusLimits


def test_run_takes_the_api_timeout_as_a_setting() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).api_timeout == 30.0
    assert settings_from(parser.parse_args(["run", "--api-timeout", "7.5"])).api_timeout == 7.5


def test_run_takes_the_prometheus_guardrails_as_settings() -> None:
    parser = build_parser(only="run")
    assert settings_from(parser.parse_args(["run"])).prometheus_limits == PrometheusLimits()
    args = [
        "run",
        "--prometheus-max-response-bytes=2048",
        "--prometheus-max-series=5",
        "--prometheus-max-query-seconds=3.5",
        "--prometheus-per-server-concurrency=1",
        "--prometheus-allowed-url=https://prom.monitoring.svc:9090/",
        "--prometheus-allowed-url=thanos.monitoring.svc",
    ]
    assert settings_from(parser.parse_args(args)).prometheus_limits == PrometheusLimits(
        max_response_bytes=2048,
        max_series=5,
        max_query_seconds=3.5,
        per_server_concurrency=1,
        allowed_urls=("https://prom.monitoring.svc:9090/", "thanos.monitoring.svc"),
    )


def test_run_refuses_a_guardrail_that_allows_nothing() -> None:
    parser = build_parser(only="run")
    with pytest.raises(SystemExit):
        settings_from(parser.parse_args(["run", "--prometheus-max-series=0"]))
