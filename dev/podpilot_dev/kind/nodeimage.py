"""``podpilot.dev/kind-node:<key>``: kind's node image, built here without a registry.

The key hashes every input (the rootfs's package list, kind's base files, the cache keys of
the Go binaries, the preloaded image list and the files this package writes), so a cache hit
skips the build. The finished tree is kept as ``<cache>/kind/node-<key>.tar`` (stamp file
written last), which ``podman import`` turns into the image; a podman store that lost the
image imports the archive again without rebuilding.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from podpilot_dev import toolchain
from podpilot_dev.images import PAUSE_SCRIPT
from podpilot_dev.kind import basefiles, controlplane, kubeproxy, manifests, podman, preload, rootfs
from podpilot_dev.kind.locations import kind_cache
from podpilot_dev.kind.steps import Reporter, run, say, timed

IMAGE_REPOSITORY = "podpilot.dev/kind-node"
RECIPE_VERSION = "1"
CLUSTER_COMPONENTS = ("etcd", "k8s")
KIND_COMPONENTS = tuple(comp.name for comp in toolchain.KIND_COMPONENTS)
NODE_BINARIES = ("kubeadm", "kubelet", "kubectl")
# What kind's base image Dockerfile sets, after the squash.
IMPORT_CHANGES = (
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
    "ENV container=docker",
    # An imported tree has no image config at all; Debian's base image sets this PATH.
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "STOPSIGNAL SIGRTMIN+3",
)
TAR_TIMEOUT = 900.0
IMPORT_TIMEOUT = 1200.0
STAMP_SUFFIX = ".complete"


@dataclass(frozen=True)
class NodeImage:
    reference: str
    archive: Path


def directory_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            relative = path.relative_to(directory).as_posix()
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_key(
    rootfs_key: str,
    kind_files_digest: str,
    binary_keys: Mapping[str, str],
    references: Sequence[str],
    generated_files: Sequence[str],
) -> str:
    """The node image's cache key: a hash of every input, order-independent where it may be."""
    digest = hashlib.sha256()
    parts = [RECIPE_VERSION, rootfs_key, kind_files_digest]
    parts += [f"{name}={key}" for name, key in sorted(binary_keys.items())]
    parts += sorted(references)
    parts += list(generated_files)
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def generated_files() -> list[str]:
    """The contents this package writes into the image (their changes change the key)."""
    return [
        basefiles.containerd_config(),
        kubeproxy.WRAPPER,
        PAUSE_SCRIPT,
        *(f"{name}\0{text}" for name, text in sorted(manifests.FILES.items())),
    ]


def kind_files_dir(go: str, report: Reporter) -> Path:
    """kind's base-image files, from its module in the Go module cache. The kind binary may be
    cached under ``PODPILOT_CACHE_DIR`` while the module cache lost the module (cleaned, or
    another ``HOME``): it is downloaded again, as a build of kind would."""
    module_cache = run([go, "env", "GOMODCACHE"], timeout=30).strip()
    version = toolchain.KIND_VERSION
    files = Path(module_cache) / f"sigs.k8s.io/kind@{version}" / "images" / "base" / "files"
    if not files.is_dir():
        report(f"kind {version}'s module is not in the Go module cache; downloading it")
        toolchain.download_modules(go, "kind", report)
    if not files.is_dir():
        raise toolchain.ToolchainError(f"kind's base-image files are not in the module: {files}")
    return files


def build_binaries(report: Reporter) -> dict[str, Path]:
    binaries = toolchain.build_all(CLUSTER_COMPONENTS, report)
    binaries.update(
        toolchain.build_all(KIND_COMPONENTS, report, components=toolchain.KIND_COMPONENTS)
    )
    return binaries


def _binary_keys(go_version: str) -> dict[str, str]:
    names = (*CLUSTER_COMPONENTS, *KIND_COMPONENTS)
    return {name: toolchain.cache_key(toolchain.component(name), go_version) for name in names}


def _assemble(
    rootfs_tar: Path, kind_files: Path, binaries: Mapping[str, Path], work: Path, report: Reporter
) -> Path:
    tree = work / "rootfs"
    tree.mkdir(parents=True)
    with timed(report, "unpacking the rootfs"):
        run(["tar", "--numeric-owner", "-xpf", str(rootfs_tar), "-C", str(tree)], TAR_TIMEOUT)
    with timed(report, "kind's base files, containerd config, Kubernetes binaries"):
        basefiles.install(tree, kind_files)
        for name in NODE_BINARIES:
            shutil.copy2(binaries[name], tree / "usr/bin" / name)
        (tree / "kind/version").write_text(toolchain.KUBERNETES_VERSION + "\n")
        (tree / "kind/manifests").mkdir(parents=True, exist_ok=True)
        for name, text in manifests.FILES.items():
            (tree / "kind/manifests" / name).write_text(text)
        cni = tree / "opt/cni/bin"
        cni.mkdir(parents=True, exist_ok=True)
        for plugin in sorted((tree / "usr/lib/cni").iterdir()):
            (cni / plugin.name).symlink_to(f"/usr/lib/cni/{plugin.name}")
    with timed(report, "control-plane image archives"):
        archives = controlplane.write_all(binaries, tree, work / "images")
    with timed(report, f"preloading {len(archives)} images into the node's containerd"):
        preload.preload(tree, archives)
    return tree


def build(report: Reporter = say) -> NodeImage:
    """Build (or find cached) the node image and make sure podman has it."""
    started = time.monotonic()
    go = toolchain.go_executable()
    go_version = toolchain.go_version(go)
    with timed(report, "Go binaries (etcd, k8s, kind, kubeadm, coredns)"):
        binaries = build_binaries(report)
    rootfs_tar = rootfs.ensure(report)
    kind_files = kind_files_dir(go, report)
    key = image_key(
        rootfs.cache_key(),
        directory_digest(kind_files),
        _binary_keys(go_version),
        controlplane.references(),
        generated_files(),
    )
    image = NodeImage(f"{IMAGE_REPOSITORY}:{key}", kind_cache() / f"node-{key}.tar")
    stamp = image.archive.with_name(image.archive.name + STAMP_SUFFIX)
    if podman.image_exists(image.reference):
        report(f"node image cached: {image.reference}")
        return image
    if not stamp.exists():
        work = kind_cache() / f"work-{key}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            tree = _assemble(rootfs_tar, kind_files, binaries, work, report)
            partial = image.archive.with_name(image.archive.name + ".partial")
            with timed(report, "node image archive"):
                run(
                    ["tar", "--numeric-owner", "-cf", str(partial), "-C", str(tree), "."],
                    TAR_TIMEOUT,
                )
            partial.replace(image.archive)
            stamp.write_text("complete\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in kind_cache().glob("node-*.tar*"):
            if not old.name.startswith(f"node-{key}"):
                old.unlink()
    with timed(report, f"podman import {image.reference}"):
        changes = [argument for change in IMPORT_CHANGES for argument in ("--change", change)]
        podman.run(["import", *changes, str(image.archive), image.reference], IMPORT_TIMEOUT)
    report(f"node image ready in {time.monotonic() - started:.0f}s: {image.reference}")
    return image
