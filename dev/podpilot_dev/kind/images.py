"""Build the images that run inside the kind cluster as OCI archives, without Docker.

Each archive is one layer written by ``ocilayout`` from a recipe (``recipes.py``): Debian
packages unpacked with ``dpkg-deb -x``, Go binaries from the toolchain's cache, a few files.
``kind load image-archive`` imports it into every node's containerd, and the manifests
(``addons/``) use it as ``podpilot.dev/<name>:<key>`` with ``imagePullPolicy: Never``.

Archives are cached under ``<cache>/kind-images/``, keyed by a hash of everything that goes
in (the packages' file names, which carry their versions, the binaries' bytes, the recipe), so
a hit costs a hash of the inputs and nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from podpilot_dev import ocilayout, toolchain
from podpilot_dev.kind import addons, elf
from podpilot_dev.kind.recipes import RECIPE_VERSION, RECIPES, SKELETON, Recipe, recipe, reference
from podpilot_dev.operator_image import ImageBuildError, download_debs, run_step
from podpilot_dev.paths import cache_root

Reporter = Callable[[str], None]

PROMETHEUS_VERSION = "3.15.1"  # module version v0.315.1 (tools/prometheus/go.mod)

# Built only for the kind cluster's images: cpuburn, from its own dependency-free tools module,
# and Prometheus with Kubernetes, file and HTTP service discovery only (its build tags; the
# other discovery plugins would double the build).
KIND_IMAGE_COMPONENTS = (
    toolchain.GoComponent("cpuburn", (("cpuburn", "podpilot.dev/tools/cpuburn"),)),
    toolchain.GoComponent(
        "prometheus",
        (("prometheus", "github.com/prometheus/prometheus/cmd/prometheus"),),
        lambda: "-s -w -X github.com/prometheus/common/version.Version=" + PROMETHEUS_VERSION,
        tags=("remove_all_sd", "enable_kubernetes_sd"),
    ),
)
# binary name -> the toolchain component that builds it
GO_COMPONENTS = {
    "flanneld": "flannel",
    "metrics-server": "metrics-server",
    "prometheus-adapter": "prometheus-adapter",
    "cpuburn": "cpuburn",
    "prometheus": "prometheus",
}


@dataclass(frozen=True)
class BuiltImage:
    name: str
    reference: str
    archive: Path


def images_dir() -> Path:
    return cache_root() / "kind-images"


def cache_key(spec: Recipe, debs: Sequence[Path], binaries: Mapping[str, Path]) -> str:
    """A hash of every input of the image: change any and the tag changes."""
    digest = hashlib.sha256(f"{RECIPE_VERSION}\n{spec.name}\n".encode())
    digest.update(json.dumps(spec.image_config(), sort_keys=True).encode())
    for deb in sorted(deb.name for deb in debs):
        digest.update(b"deb\0" + deb.encode() + b"\0")
    for image_path, source in sorted(binaries.items()):
        digest.update(b"bin\0" + image_path.encode() + b"\0")
        digest.update(ocilayout.file_digest(source).encode())
    for name, file in sorted({**SKELETON, **spec.files}.items()):
        digest.update(f"file\0{name}\0{file.mode:o}\0".encode() + file.data + b"\0")
    for link, target in sorted(spec.links.items()):
        digest.update(f"link\0{link}\0{target}\0".encode())
    digest.update(f"skip\0{' '.join(spec.skipped)}\0busybox\0{spec.busybox}".encode())
    return digest.hexdigest()


def go_binaries(names: set[str], report: Reporter) -> dict[str, Path]:
    """Build (or find in the toolchain's cache) the Go binaries the recipes need."""
    wanted = {GO_COMPONENTS[name] for name in names}
    found = toolchain.build_all(
        [c.name for c in toolchain.COMPONENTS if c.name in wanted], report=report
    )
    go = toolchain.go_executable()
    version = toolchain.go_version(go)
    for component in KIND_IMAGE_COMPONENTS:
        if component.name in wanted:
            directory = toolchain.build_component(component, go, version, report)
            found.update({b: directory / b for b, _ in component.binaries})
    return {name: found[name] for name in names}


def assemble(spec: Recipe, debs: Sequence[Path], binaries: Mapping[str, Path], root: Path) -> None:
    """Lay the image's file tree out under ``root``."""
    root.mkdir(parents=True)
    for deb in debs:
        run_step(f"dpkg-deb -x {deb.name}", ["dpkg-deb", "-x", str(deb), str(root)], timeout=300)
    for image_path, source in binaries.items():
        target = root / image_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755)
    for name, file in {**SKELETON, **spec.files}.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
        target.chmod(file.mode)
    for link, link_target in spec.links.items():
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(link_target)
    if spec.busybox:
        for applet in busybox_applets(root):
            path = root / "bin" / applet
            if not path.exists() and not path.is_symlink():
                path.symlink_to("busybox")
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)


def busybox_applets(root: Path) -> list[str]:
    """The applets of the image's own busybox (it is static, so the host can run it)."""
    busybox = root / "bin" / "busybox"
    listing = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, timeout=60, check=True
    )
    return sorted({line.strip() for line in listing.stdout.splitlines()} - {"", "busybox"})


def check_closure(spec: Recipe, root: Path) -> None:
    missing = {
        path: libraries
        for path, libraries in elf.missing_libraries(root).items()
        if not spec.is_skipped(path)
    }
    if missing:
        details = "; ".join(f"{path}: {', '.join(libs)}" for path, libs in sorted(missing.items()))
        raise ImageBuildError(
            f"image {spec.name}: shared libraries missing (add their packages): {details}"
        )


def build_image(
    spec: Recipe, binaries: Mapping[str, Path], report: Reporter, directory: Path
) -> BuiltImage:
    debs = download_debs(directory / "debs", spec.debs) if spec.debs else []
    sources = {image_path: binaries[name] for image_path, name in spec.binaries.items()}
    key = cache_key(spec, debs, sources)
    ref = reference(spec.name, key)
    archive = directory / f"{spec.name}-{key[:12]}.oci.tar"
    if archive.exists():
        report(f"[kind-image {spec.name}] cached {archive.name}")
        return BuiltImage(spec.name, ref, archive)
    started = time.monotonic()
    report(f"[kind-image {spec.name}] building {ref} from {len(debs)} packages")
    with tempfile.TemporaryDirectory(dir=directory, prefix=f"build-{spec.name}-") as temporary:
        root, layer = Path(temporary) / "rootfs", Path(temporary) / "layer.tar"
        assemble(spec, debs, sources, root)
        check_closure(spec, root)
        ocilayout.directory_layer(root, layer, skip=spec.is_skipped)
        ocilayout.write_archive(ref, [layer], spec.image_config(), archive)
    for old in stale_archives(directory, spec.name, archive):
        old.unlink()
    size = archive.stat().st_size / 2**20
    elapsed = time.monotonic() - started
    report(f"[kind-image {spec.name}] built {archive.name} ({size:.0f} MiB) in {elapsed:.1f}s")
    return BuiltImage(spec.name, ref, archive)


def stale_archives(directory: Path, name: str, current: Path) -> list[Path]:
    """The image's other archives (``prometheus-*`` must not catch ``prometheus-adapter-*``)."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{12}}\.oci\.tar")
    return [
        path
        for path in sorted(directory.iterdir())
        if pattern.fullmatch(path.name) and path != current
    ]


def build_all(
    names: Sequence[str] | None = None, report: Reporter = print
) -> dict[str, BuiltImage]:
    """Build (or find cached) the named images, all of them by default."""
    specs = [recipe(n) for n in names] if names else list(RECIPES)
    directory = images_dir()
    directory.mkdir(parents=True, exist_ok=True)
    binaries = go_binaries({b for spec in specs for b in spec.binaries.values()}, report)
    return {spec.name: build_image(spec, binaries, report, directory) for spec in specs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m podpilot_dev.kind.images", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", help="images to build (default: all)")
    parser.add_argument(
        "--manifests",
        type=Path,
        metavar="FILE",
        help="also write the in-cluster manifests for these images (all images) to FILE",
    )
    arguments = parser.parse_args(argv)
    if arguments.manifests is not None and arguments.names:
        parser.error("--manifests needs every image: give no names")
    try:
        built = build_all(arguments.names or None, report=lambda line: print(line, flush=True))
    except (ImageBuildError, toolchain.ToolchainError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for image in built.values():
        print(f"{image.reference}\t{image.archive}")
    if arguments.manifests is not None:
        references = {name: image.reference for name, image in built.items()}
        arguments.manifests.write_text(addons.to_yaml(addons.render(references)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
