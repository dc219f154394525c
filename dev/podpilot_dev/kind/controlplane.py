"""The control-plane images kubeadm expects, as OCI archives written by ``ocilayout``.

Each image is one layer: a static binary from the project's Go builds and a minimal skeleton.
Their references are exactly what ``kubeadm config images list`` names for the Kubernetes
version, so kubeadm finds them in the node's containerd and pulls nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from podpilot_dev import images, ocilayout
from podpilot_dev.kind import kubeproxy
from podpilot_dev.kind.basefiles import PAUSE_IMAGE
from podpilot_dev.toolchain import COREDNS_VERSION, KUBERNETES_VERSION

REGISTRY = "registry.k8s.io"
ETCD_IMAGE_TAG = "3.6.8-0"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SKELETON = {"etc": 0o755, "tmp": 0o1777, "var": 0o755, "var/run": 0o755, "usr": 0o755}
SKELETON_FILES = {
    "etc/passwd": ocilayout.ExtraFile(b"root:x:0:0:root:/root:/sbin/nologin\n"),
    "etc/group": ocilayout.ExtraFile(b"root:x:0:\n"),
    "etc/nsswitch.conf": ocilayout.ExtraFile(b"hosts: files dns\n"),
}


@dataclass(frozen=True)
class ControlPlaneImage:
    reference: str
    binary: str  # the name in the binaries map
    path_in_image: str
    entrypoint: tuple[str, ...] = ()


def image_list() -> tuple[ControlPlaneImage, ...]:
    """Every image but pause (busybox, see ``write_all``), as kubeadm names them."""
    local_bin = "usr/local/bin"
    kubernetes = [
        ControlPlaneImage(f"{REGISTRY}/{name}:{KUBERNETES_VERSION}", name, f"{local_bin}/{name}")
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    return (
        *kubernetes,
        ControlPlaneImage(
            f"{REGISTRY}/kube-proxy:{KUBERNETES_VERSION}", "kube-proxy", f"{local_bin}/kube-proxy"
        ),
        ControlPlaneImage(
            f"{REGISTRY}/coredns/coredns:{COREDNS_VERSION}", "coredns", "coredns", ("/coredns",)
        ),
        ControlPlaneImage(f"{REGISTRY}/etcd:{ETCD_IMAGE_TAG}", "etcd", f"{local_bin}/etcd"),
    )


def references() -> list[str]:
    return sorted([image.reference for image in image_list()] + [PAUSE_IMAGE])


def archive_name(reference: str) -> str:
    return reference.replace("/", "_").replace(":", "_") + ".oci.tar"


def _link_or_copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _write_image(
    image: ControlPlaneImage,
    binaries: Mapping[str, Path],
    directory: Path,
    add_extra: Callable[[Path], None] | None = None,
) -> Path:
    destination = directory / archive_name(image.reference)
    with tempfile.TemporaryDirectory(dir=directory, prefix="stage-") as temporary:
        stage = Path(temporary) / "root"
        _link_or_copy(binaries[image.binary], stage / image.path_in_image)
        (stage / image.path_in_image).chmod(0o755)
        if add_extra is not None:
            add_extra(stage)
        layer = Path(temporary) / "layer.tar"
        ocilayout.directory_layer(stage, layer, extra=SKELETON_FILES, extra_directories=SKELETON)
        config: dict[str, object] = {"Env": [PATH_ENV], "WorkingDir": "/"}
        if image.entrypoint:
            config["Entrypoint"] = list(image.entrypoint)
        ocilayout.write_archive(image.reference, [layer], config, destination)
    return destination


def write_all(binaries: Mapping[str, Path], rootfs: Path, directory: Path) -> list[Path]:
    """Write every control-plane image archive into ``directory``; ``rootfs`` (the node's
    Debian tree) supplies kube-proxy's iptables."""
    directory.mkdir(parents=True, exist_ok=True)
    archives = []
    for image in image_list():
        extra = None
        if image.binary == "kube-proxy":
            extra = lambda stage: kubeproxy.add_iptables(rootfs, stage)  # noqa: E731
        archives.append(_write_image(image, binaries, directory, extra))
    pause = images.ImageSpec(PAUSE_IMAGE, images.PAUSE.command)
    archives += images.write_archives(directory, [pause])
    return archives
