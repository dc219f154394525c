"""Where a real node's files and sockets go, whatever the length of the state directory."""

from __future__ import annotations

from pathlib import Path

from podpilot_dev import kubelet, netns
from podpilot_dev.realnodes import Ledger, node_record

# A unix socket's path holds at most 107 bytes (sun_path is 108, with the closing NUL).
SOCKET_PATH_LIMIT = 107
# The sockets the kubelet makes below its root directory.
KUBELET_SOCKETS = ("device-plugins/kubelet.sock", "pod-resources/kubelet.sock")


def _record_under(state_directory: Path) -> tuple[Path, Path, kubelet.KubeletLayout]:
    ledger = Ledger(
        state_directory / "real-nodes.json", netns.cluster_id(state_directory), "172.30.7.0/24"
    )
    record = node_record(ledger, state_directory / "real-nodes", 3, "real-node-3")
    runtime = record.containerd_layout()
    return runtime.socket, runtime.socket_directory / "ttrpc.sock", record.kubelet_layout()


def test_every_node_socket_fits_a_unix_socket_path_under_a_long_state_directory() -> None:
    state_directory = Path("/home/a-rather-long-user-name/.cache/podpilot") / ("x" * 80)
    containerd_socket, ttrpc_socket, layout = _record_under(state_directory)
    sockets = [containerd_socket, ttrpc_socket, *(layout.root_dir / s for s in KUBELET_SOCKETS)]
    too_long = [str(path) for path in sockets if len(str(path).encode()) > SOCKET_PATH_LIMIT]
    assert too_long == []
    assert all(not str(path).startswith(str(state_directory)) for path in sockets)


def test_two_state_directories_give_their_nodes_apart_socket_and_kubelet_directories() -> None:
    first = _record_under(Path("/root/.cache/podpilot/dev-cluster-gw0"))
    second = _record_under(Path("/root/.cache/podpilot/dev-cluster-gw1"))
    assert first[0] != second[0]
    assert first[2].root_dir != second[2].root_dir
    assert first[2].directory != second[2].directory
