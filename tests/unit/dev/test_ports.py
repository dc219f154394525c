"""Listening ports: below the kernel's ephemeral range, one slice per pytest-xdist worker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from podpilot_dev import ports

DEFAULT_EPHEMERAL_START = 32768


def test_the_ephemeral_range_is_read_as_the_kernel_writes_it() -> None:
    assert ports.ephemeral_start("32768\t60999\n") == DEFAULT_EPHEMERAL_START


@pytest.mark.parametrize(
    ("worker", "index"),
    [(None, 0), ("gw0", 1), ("gw7", 8), ("gw8", 1), ("gw15", 8), ("master", 0), ("gw", 0)],
)
def test_each_worker_has_its_slice_and_the_rest_share_the_first(
    worker: str | None, index: int
) -> None:
    assert ports.slice_index(worker) == index


def test_the_slices_are_disjoint_and_below_the_ephemeral_range() -> None:
    slices = [ports.port_slice(DEFAULT_EPHEMERAL_START, i) for i in range(ports.SLICES)]
    taken = [port for each in slices for port in each]
    assert len(taken) == len(set(taken))
    assert min(taken) >= ports.LOWEST_PORT
    assert max(taken) < DEFAULT_EPHEMERAL_START
    assert all(len(each) > 1000 for each in slices)


def test_no_slice_when_the_ephemeral_range_leaves_no_room_below_it() -> None:
    assert not ports.port_slice(1024, 0)


def _serve_on(port: int) -> socket.socket:
    return socket.create_server(("127.0.0.1", port))


def test_a_worker_gets_a_bindable_port_of_its_own_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_ephemeral = ports.ephemeral_start(ports.EPHEMERAL_RANGE_FILE.read_text())
    for worker, index in (("gw0", 1), ("gw1", 2)):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        port = ports.free_port()
        assert port in ports.port_slice(first_ephemeral, index)
        _serve_on(port).close()


def test_ports_chosen_before_any_is_bound_are_distinct() -> None:
    chosen = [ports.free_port() for _ in range(200)]
    assert len(set(chosen)) == len(chosen)


def test_distinct_ports_one_per_name() -> None:
    chosen = ports.free_ports(["etcd", "etcd-peer", "kube-apiserver", "prometheus"])
    assert sorted(chosen) == ["etcd", "etcd-peer", "kube-apiserver", "prometheus"]
    assert len(set(chosen.values())) == len(chosen)


def test_a_port_something_listens_on_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = ports.free_port()
    with _serve_on(busy):
        monkeypatch.setattr(ports, "_ours", lambda: range(busy, busy + 2))
        assert ports.free_port() == busy + 1
    monkeypatch.setattr(ports, "_ours", lambda: range(busy, busy + 1))
    assert ports.free_port() == busy


def test_any_port_where_the_ephemeral_range_starts_too_low(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", range_file)
    _serve_on(ports.free_port()).close()


def test_a_full_slice_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = ports.free_port()
    with _serve_on(busy):
        monkeypatch.setattr(ports, "_ours", lambda: range(busy, busy + 1))
        with pytest.raises(ports.NoFreePortError, match=f"in {busy}-{busy}$"):
            ports.free_port()
