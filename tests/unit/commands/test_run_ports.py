"""``podpilot run`` tries the addresses of /metrics and /healthz before the operator starts: one
already in use is one line naming the flag, exit status 1, and kopf never starts."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.local_http import write_kubeconfig

import podpilot.app
from podpilot.cli import main
from podpilot.commands import run as run_command
from podpilot.commands.conventions import EXIT_FAILED, CommandError
from podpilot.commands.ports import Listener, check_free, port_number
from podpilot_dev.ports import free_port

LOCAL = "127.0.0.1"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something listens on, on 127.0.0.1."""
    with socket.create_server((LOCAL, 0)) as listener:
        yield listener.getsockname()[1]


@pytest.fixture
def operator_never_starts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Stand-ins for the logging set-up and the operator, recording a start that must not be."""
    started: list[object] = []
    monkeypatch.setattr(run_command, "configure_logs", lambda *_: None)
    monkeypatch.setattr(
        podpilot.app, "run_operator", lambda settings: started.append(settings) or 0
    )
    return started


def kubeconfig(path: Path) -> Path:
    return write_kubeconfig(path, f"http://{LOCAL}:{free_port()}")


def test_a_metrics_port_in_use_is_one_line_naming_the_flag(
    busy_port: int,
    operator_never_starts: list[object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "--kubeconfig", str(kubeconfig(tmp_path / "config"))]
    argv += ["--metrics-address", LOCAL, "--metrics-port", str(busy_port)]
    argv += ["--health-address", LOCAL, "--health-port", str(free_port())]

    status = main(argv)

    assert (status, operator_never_starts) == (EXIT_FAILED, [])
    assert capsys.readouterr().err.splitlines() == [
        f"podpilot run: error: --metrics-port {busy_port}: cannot listen on "
        f"{LOCAL}:{busy_port}: Address already in use"
    ]


def test_a_health_port_in_use_names_its_own_flag(busy_port: int) -> None:
    listeners = [
        Listener("--metrics-address", "--metrics-port", LOCAL, free_port()),
        Listener("--health-address", "--health-port", LOCAL, busy_port),
    ]

    with pytest.raises(CommandError, match=rf"^--health-port {busy_port}: cannot listen on"):
        check_free(listeners)


def test_both_servers_on_one_port_clash() -> None:
    port = free_port()
    listeners = [
        Listener("--metrics-address", "--metrics-port", LOCAL, port),
        Listener("--health-address", "--health-port", LOCAL, port),
    ]

    with pytest.raises(CommandError, match=rf"^--health-port {port}: .*already in use"):
        check_free(listeners)


def test_free_ports_pass_and_are_let_go() -> None:
    metrics, health = free_port(), free_port()
    listeners = [
        Listener("--metrics-address", "--metrics-port", LOCAL, metrics),
        Listener("--health-address", "--health-port", LOCAL, health),
    ]

    check_free(listeners)

    for port in (metrics, health):  # the servers can bind them next
        socket.create_server((LOCAL, port)).close()


def test_an_address_that_is_not_this_hosts_names_the_address_flag() -> None:
    # TEST-NET-1 (RFC 5737): on no interface of a test machine, so binding it fails at once.
    listener = Listener("--metrics-address", "--metrics-port", "192.0.2.1", free_port())

    with pytest.raises(CommandError, match=r"^--metrics-address 192\.0\.2\.1: cannot listen on"):
        check_free([listener])


def test_a_host_name_with_a_label_too_long_is_one_line() -> None:
    # Refused while encoding the name (a label is at most 63 characters): nothing is looked up.
    listener = Listener("--metrics-address", "--metrics-port", "a" * 64 + ".invalid", 9808)

    with pytest.raises(CommandError, match=r"^--metrics-address a+\.invalid: cannot listen on"):
        check_free([listener])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "'0': a port is from 1 to 65535"),
        ("65536", "'65536': a port is from 1 to 65535"),
        ("http", "'http' is not a whole number (a port)"),
        ("8_080", "'8_080' is not a whole number (a port)"),
        (" 80 ", "' 80 ' is not a whole number (a port)"),
        ("\u0668\u0660", "'\u0668\u0660' is not a whole number (a port)"),
        ("80.0", "'80.0' is not a whole number (a port)"),
    ],
)
def test_a_port_out_of_range_is_a_usage_error(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        port_number(text)

    assert str(raised.value) == message
