"""OCI image archives for real nodes, written by Python from Debian's busybox-static.

Nothing is ever pulled: each archive is an OCI image layout in a tar, written by ``ocilayout``,
that ``ctr -n k8s.io images import`` accepts. To add an image, add an ``ImageSpec`` to ``IMAGES``
(its files and its command); ``up --real-nodes N`` builds it and imports it into every node,
and pods use it by ``reference`` with ``imagePullPolicy: Never``.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podpilot_dev import ocilayout

BUSYBOX = Path("/bin/busybox")

# The sandbox only has to exist and stop on SIGTERM; sleep runs in the background so the
# shell (PID 1, which ignores signals without a trap) can act on the trap at once.
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"


@dataclass(frozen=True)
class ImageSpec:
    reference: str
    command: tuple[str, ...]
    files: Mapping[str, bytes] = field(default_factory=dict)


PAUSE = ImageSpec("podpilot.dev/pause:1", ("/bin/sh", "-c", PAUSE_SCRIPT))
TESTBOX = ImageSpec(
    "podpilot.dev/testbox:1",
    ("/bin/sh",),
    {"www/index.html": b"podpilot testbox\n"},
)
IMAGES: tuple[ImageSpec, ...] = (PAUSE, TESTBOX)


class ImageError(RuntimeError):
    """An image cannot be built; the message says what is missing."""


def _busybox_applets(busybox: Path) -> list[str]:
    listing = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return sorted({line.strip() for line in listing.stdout.splitlines() if line.strip()})


def rootfs_layer(spec: ImageSpec, destination: Path, busybox: Path = BUSYBOX) -> None:
    """One uncompressed, reproducible layer: busybox, its applet links, the spec's files."""
    if not busybox.exists():
        raise ImageError(f"{busybox} is missing; install Debian's busybox-static (scripts/dev)")
    with tarfile.open(destination, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in ("bin", "dev", "etc", "proc", "sys", "tmp", "var", "www"):
            ocilayout.add_directory(archive, directory, 0o1777 if directory == "tmp" else 0o755)
        ocilayout.add_file(archive, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in _busybox_applets(busybox):
            if applet == "busybox":
                continue
            link = ocilayout.root_owned(tarfile.TarInfo(f"bin/{applet}"))
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            archive.addfile(link)
        ocilayout.add_file(archive, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
        ocilayout.add_file(archive, "etc/group", b"root:x:0:\n")
        for name, data in sorted(spec.files.items()):
            ocilayout.add_file(archive, name, data)


def image_config(spec: ImageSpec) -> dict[str, object]:
    return {"Cmd": list(spec.command), "Env": ["PATH=/bin"], "WorkingDir": "/"}


def write_archives(
    directory: Path, specs: Sequence[ImageSpec] = IMAGES, busybox: Path = BUSYBOX
) -> list[Path]:
    """Write one archive per image into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        name = spec.reference.replace("/", "_").replace(":", "_")
        path = directory / f"{name}.oci.tar"
        with tempfile.TemporaryDirectory(dir=directory, prefix="layer-") as temporary:
            layer = Path(temporary) / "rootfs.tar"
            rootfs_layer(spec, layer, busybox)
            ocilayout.write_archive(spec.reference, [layer], image_config(spec), path)
        paths.append(path)
    return paths
