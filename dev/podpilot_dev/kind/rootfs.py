"""The node's Debian bookworm root filesystem, made by mmdebstrap and cached as a tar.

The package list follows kind's own base image (images/base/Dockerfile in the kind module),
with Debian's containerd, runc and CNI plugins standing in for the ones kind builds.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from podpilot_dev.kind.locations import kind_cache
from podpilot_dev.kind.steps import KindError, Reporter, run, timed

SUITE = "bookworm"
RECIPE_VERSION = "1"
PACKAGES: tuple[str, ...] = (
    # services, the container runtime and pod networking
    "systemd",
    "containerd",
    "runc",
    "containernetworking-plugins",
    # what kubelet, kubeadm and kind's entrypoint call
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "fuse-overlayfs",
    "e2fsprogs",
    # misc tools kind and people debugging a node use
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
)
# Documentation and translations are a third of the tar and nobody reads them in a node.
EXCLUDED_PATHS = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/locale/*",
    "/usr/share/info/*",
)
MMDEBSTRAP_TIMEOUT = 1200.0
STAMP_SUFFIX = ".complete"


def cache_key() -> str:
    digest = hashlib.sha256()
    for part in (SUITE, RECIPE_VERSION, *PACKAGES, *EXCLUDED_PATHS):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def archive_path() -> Path:
    return kind_cache() / f"rootfs-{SUITE}-{cache_key()}.tar"


def mmdebstrap_command(destination: Path) -> list[str]:
    """Packages come from the host's own apt sources, the one Debian mirror it already uses."""
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        "--aptopt=APT::Install-Recommends false",
    ]
    command += [f"--dpkgopt=path-exclude={path}" for path in EXCLUDED_PATHS]
    return [*command, SUITE, str(destination)]


def ensure(report: Reporter) -> Path:
    """Return the cached rootfs tar, building it first on a miss."""
    target = archive_path()
    stamp = target.with_name(target.name + STAMP_SUFFIX)
    if stamp.exists() and target.exists():
        report(f"rootfs cached: {target}")
        return target
    if shutil.which("mmdebstrap") is None:
        raise KindError("mmdebstrap is not installed (scripts/dev setup installs it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial.tar")
    partial.unlink(missing_ok=True)
    with timed(report, f"Debian {SUITE} rootfs with mmdebstrap ({len(PACKAGES)} packages)"):
        run(mmdebstrap_command(partial), timeout=MMDEBSTRAP_TIMEOUT)
    partial.replace(target)
    stamp.write_text("complete\n")
    return target
