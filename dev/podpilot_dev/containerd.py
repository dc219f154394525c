"""One containerd (Debian's, with runc) per real node, each with its own dirs and socket."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
CTR_NAMESPACE = "k8s.io"  # the namespace containerd's CRI plugin serves the kubelet from


class ContainerdError(RuntimeError):
    """An image import failed; the message carries ctr's error."""


@dataclass(frozen=True)
class ContainerdLayout:
    """Where one node's containerd keeps everything; all of it lives under ``directory``."""

    directory: Path
    socket_directory: Path  # unix socket paths must stay under 108 bytes; state dirs may not

    @property
    def config(self) -> Path:
        return self.directory / "config.toml"

    @property
    def socket(self) -> Path:
        return self.socket_directory / "containerd.sock"

    @property
    def root(self) -> Path:
        return self.directory / "root"

    @property
    def state(self) -> Path:
        return self.directory / "state"

    @property
    def cni_conf_dir(self) -> Path:
        return self.directory / "cni" / "net.d"


def configuration(layout: ContainerdLayout, sandbox_image: str) -> str:
    """containerd 1.6 config (version 2): CRI with runc, CNI from Debian, nothing shared."""
    return f"""version = 2
root = "{layout.root}"
state = "{layout.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{layout.socket}"

[ttrpc]
  address = "{layout.socket_directory / "ttrpc.sock"}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.directory / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # This machine forbids lowering oom_score_adj below its own (runc fails with EACCES).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1
"""


def command(layout: ContainerdLayout) -> list[str]:
    return ["containerd", f"--config={layout.config}"]


def import_images(layout: ContainerdLayout, archives: Sequence[Path]) -> None:
    """``ctr -n k8s.io images import`` each archive, so the CRI plugin (and pods) see them."""
    for archive in archives:
        result = subprocess.run(
            [
                "ctr",
                f"--address={layout.socket}",
                f"--namespace={CTR_NAMESPACE}",
                "images",
                "import",
                str(archive),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ContainerdError(f"ctr images import {archive} failed: {result.stderr.strip()}")
