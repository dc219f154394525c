"""Preload image archives into a node rootfs's containerd store with a throwaway containerd.

A containerd on the host, whose root is the rootfs's ``/var/lib/containerd``, imports each
archive into the ``k8s.io`` namespace (the one the CRI plugin serves) without unpacking: the
node's containerd unpacks an image when a container first uses it. Nothing is pulled.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from podpilot_dev.kind.steps import KindError, run

NAMESPACE = "k8s.io"
START_TIMEOUT = 30.0
IMPORT_TIMEOUT = 300.0


def throwaway_config(root: Path, state: Path, socket: Path) -> str:
    """Content and metadata only: no CRI, no snapshotters that could touch the host."""
    return f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.opt"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
"""


def _wait_for_socket(socket: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise KindError(f"the throwaway containerd exited: {log.read_text()[-2000:]}")
        probe = subprocess.run(
            ["ctr", f"--address={socket}", "version"], capture_output=True, timeout=10
        )
        if probe.returncode == 0:
            return
        time.sleep(0.3)
    raise KindError(f"the throwaway containerd did not answer in {START_TIMEOUT:.0f}s")


def preload(rootfs: Path, archives: Sequence[Path]) -> None:
    """Import every archive into ``rootfs``'s containerd store, tagged as named."""
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        raise KindError("containerd and ctr are needed on the host (scripts/dev setup)")
    root = rootfs / "var/lib/containerd"
    root.mkdir(parents=True, exist_ok=True)
    # Unix socket paths must stay under 108 bytes, so the socket lives in a short /tmp path.
    with tempfile.TemporaryDirectory(prefix="pp-ctr-") as temporary:
        directory = Path(temporary)
        socket = directory / "c.sock"
        config = directory / "config.toml"
        config.write_text(throwaway_config(root, directory / "state", socket))
        log = directory / "containerd.log"
        with (
            log.open("wb") as output,
            subprocess.Popen(
                ["containerd", f"--config={config}"], stdout=output, stderr=subprocess.STDOUT
            ) as process,
        ):
            try:
                _wait_for_socket(socket, process, log)
                for archive in archives:
                    run(
                        [
                            "ctr",
                            f"--address={socket}",
                            f"--namespace={NAMESPACE}",
                            "images",
                            "import",
                            "--no-unpack",
                            "--digests",
                            str(archive),
                        ],
                        timeout=IMPORT_TIMEOUT,
                    )
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
