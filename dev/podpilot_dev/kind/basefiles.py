"""kind's own node files, placed in the rootfs as kind's base image Dockerfile places them.

The files come from the kind module in the Go module cache (``images/base/files``); this
module also does what that Dockerfile's RUN lines do (systemd clean-up, enabled units), and
writes containerd's configuration for Debian's containerd 1.6.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from podpilot_dev.kind.steps import run

PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
ENABLED_UNITS = ("kubelet.service", "containerd.service", "undo-mount-hacks.service")
MASKED_UNITS = ("systemd-binfmt.service",)
# Debian installs containerd in /usr/bin; kind's containerd.service runs /usr/local/bin's.
CONTAINERD_BINARIES = ("containerd", "ctr", "containerd-shim-runc-v2")
# The systemd "wants" kind's Dockerfile empties, so a node boots only what kind enables.
EMPTIED_WANTS = (
    "lib/systemd/system/multi-user.target.wants",
    "lib/systemd/system/local-fs.target.wants",
    "lib/systemd/system/basic.target.wants",
)


def containerd_config(sandbox_image: str = PAUSE_IMAGE) -> str:
    """kind's config.toml, adapted to Debian's containerd 1.6 and to this kind of machine."""
    runtime = """  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
"""
    return f"""# kind's images/base/files/etc/containerd/config.toml, adapted by podpilot-dev:
# no fuse-overlayfs proxy plugin (no rootless here), the preloaded pause image, and
# restrict_oom_score_adj = true because the machines podpilot builds on cannot lower
# OOM scores (runc fails with EACCES otherwise).
version = 2

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
{runtime}  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = true

# The magic runtime handler name Kubernetes' RuntimeClass tests use.
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]
{runtime}  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler.options]
    SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  tolerate_missing_hugepages_controller = true
  restrict_oom_score_adj = true
"""


def cri_base_spec(oci_spec: dict[str, Any]) -> dict[str, Any]:
    """What kind derives from ``ctr oci spec``: its product-files hook, no rlimits."""
    spec: dict[str, Any] = json.loads(json.dumps(oci_spec))
    hooks = spec.setdefault("hooks", {}).setdefault("createContainer", [])
    hooks.append({"path": "/kind/bin/mount-product-files.sh"})
    spec.get("process", {}).pop("rlimits", None)
    return spec


def wanted_by(unit_text: str) -> list[str]:
    targets: list[str] = []
    for line in unit_text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "WantedBy":
            targets += value.split()
    return targets


def _copy_tree(source: Path, destination: Path, mode: int) -> None:
    for path in sorted(source.rglob("*")):
        target = destination / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o755)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(mode)


def _relink(link: Path, target: str) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def install(rootfs: Path, kind_files: Path) -> None:
    """Place kind's files in ``rootfs`` and set systemd up as kind's base image does."""
    _copy_tree(kind_files / "usr" / "local" / "bin", rootfs / "usr" / "local" / "bin", 0o755)
    _copy_tree(kind_files / "kind", rootfs / "kind", 0o644)
    _copy_tree(kind_files / "kind" / "bin", rootfs / "kind" / "bin", 0o755)
    (rootfs / "kind").chmod(0o755)
    _copy_tree(kind_files / "LICENSES", rootfs / "LICENSES", 0o644)
    _copy_tree(kind_files / "etc", rootfs / "etc", 0o644)

    for wants in EMPTIED_WANTS:
        for entry in (rootfs / wants).glob("*"):
            entry.unlink()
    for pattern in ("*udev*", "*initctl*"):
        for entry in (rootfs / "lib/systemd/system/sockets.target.wants").glob(pattern):
            entry.unlink()
    tmpfiles = rootfs / "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service"
    tmpfiles.unlink(missing_ok=True)
    for wants_dir in (rootfs / "etc/systemd/system").glob("*.wants"):
        for entry in wants_dir.iterdir():
            entry.unlink()
    with (rootfs / "etc/systemd/journald.conf").open("a") as journald:
        journald.write("ReadKMsg=no\n")
    _relink(rootfs / "usr/sbin/init", "/usr/lib/systemd/systemd")

    for unit in ENABLED_UNITS:
        text = (rootfs / "etc/systemd/system" / unit).read_text()
        for target in wanted_by(text):
            _relink(
                rootfs / f"etc/systemd/system/{target}.wants/{unit}", f"/etc/systemd/system/{unit}"
            )
    for unit in MASKED_UNITS:
        _relink(rootfs / "etc/systemd/system" / unit, "/dev/null")
    (rootfs / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)

    for binary in CONTAINERD_BINARIES:
        _relink(rootfs / "usr/local/bin" / binary, f"/usr/bin/{binary}")
    (rootfs / "etc/containerd/config.toml").write_text(containerd_config())
    spec = json.loads(run(["ctr", "oci", "spec"], timeout=30))
    (rootfs / "etc/containerd/cri-base.json").write_text(json.dumps(cri_base_spec(spec), indent=2))
    os.chmod(rootfs / "etc/containerd/cri-base.json", 0o644)
