"""``--prometheus`` takes a base URL a request can be made of, or says why not as a usage
error (exit status 2); a password in it is never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests import backtest_history as known
from tests.local_http import serving
from tests.unit.commands.backtest_runs import running, write

from podpilot.autoscaler.sources.prometheus_range import (
    HistoryError,
    RangeReader,
    Window,
    redacted_url,
)
from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED, EXIT_NO_ANSWER, EXIT_USAGE
from podpilot_dev.ports import free_port


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:99999", "has a port that is not a number from 1 to 65535"),
        ("http://127.0.0.1:abc", "has a port that is not a number from 1 to 65535"),
        ("http://127.0.0.1:0", "has a port that is not a number from 1 to 65535"),
        ("http://127.0.0.1:9090 ", "has a space or a control character, which a URL cannot hold"),
        (
            "http://127.0.0.1:9090/pro metheus",
            "has a space or a control character, which a URL cannot hold",
        ),
        ("http://127.0.0.1:19090/?x=1", "has a ?query or #fragment: give the base URL"),
        ("http://127.0.0.1:19090/#top", "has a ?query or #fragment: give the base URL"),
        ("ftp://127.0.0.1", "is not an http(s) URL with a host"),
    ],
)
def test_a_url_no_request_can_be_made_of_is_a_usage_error(
    url: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())

    with pytest.raises(SystemExit) as exited:
        main(["backtest", "-f", file, "--prometheus", url])

    assert exited.value.code == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"podpilot backtest: error: argument --prometheus: {url!r} {said}")


def test_a_password_in_a_url_that_is_refused_is_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())

    with pytest.raises(SystemExit):
        main(["backtest", "-f", file, "--prometheus", "http://user:s3cret@127.0.0.1:abc"])

    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert "'http://<redacted>@127.0.0.1:abc'" in err


def test_a_password_in_the_url_is_not_shown_when_prometheus_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write(tmp_path / "autoscaler.yaml", known.autoscaler())
    port = free_port()
    url = f"http://user:s3cret@127.0.0.1:{port}"

    status, _, err = running(["backtest", "-f", file, "--prometheus", url], capsys)

    assert (status, err) == (
        EXIT_NO_ANSWER,
        [f"podpilot backtest: error: cannot connect to http://<redacted>@127.0.0.1:{port}"],
    )


def test_a_password_in_the_url_is_not_shown_when_prometheus_refuses() -> None:
    with serving({}, (400, b"bad query")) as url:
        reader = RangeReader(url.replace("http://", "http://user:s3cret@"))
        try:
            with pytest.raises(HistoryError, match="refused the query") as refused:
                reader.matrix("up", Window(0, 60, 60))
        finally:
            reader.close()
    assert str(refused.value).startswith(f"{url.replace('http://', 'http://<redacted>@')} ")


def test_only_the_credentials_are_redacted() -> None:
    assert redacted_url("https://u:p@prom.example:9090/base") == (
        "https://<redacted>@prom.example:9090/base"
    )
    assert redacted_url("https://token@prom.example") == "https://<redacted>@prom.example"
    assert redacted_url("http://127.0.0.1:9090") == "http://127.0.0.1:9090"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "http://[::1]:9", "https://prom.example/prometheus/"]
)
def test_a_base_url_is_taken(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nameless = known.autoscaler()
    del nameless["metadata"]["name"]  # fails after the flags were taken, before any query
    file = write(tmp_path / "autoscaler.yaml", nameless)

    status, _, _ = running(["backtest", "-f", file, "--prometheus", url], capsys)

    assert status == EXIT_FAILED
