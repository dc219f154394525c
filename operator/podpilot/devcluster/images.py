"""OCI image archives for real nodes, written by Python from Debian's busybox-static.

Nothing is ever pulled: each archive is an OCI image layout in a tar that
``ctr -n k8s.io images import`` accepts. To add an image, add an ``ImageSpec`` to ``IMAGES``
(its files and its command); ``up --real-nodes N`` builds it and imports it into every node,
and pods use it by ``reference`` with ``imagePullPolicy: Never``.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

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


def _add(archive: tarfile.TarFile, info: tarfile.TarInfo, data: bytes | None = None) -> None:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data) if data is not None else None)


def _directory(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    _add(archive, info)


def _file(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    _add(archive, info, data)


def rootfs_layer(spec: ImageSpec, busybox: Path = BUSYBOX) -> bytes:
    """One uncompressed, reproducible layer: busybox, its applet links, the spec's files."""
    if not busybox.exists():
        raise ImageError(f"{busybox} is missing; install Debian's busybox-static (scripts/dev)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in ("bin", "dev", "etc", "proc", "sys", "tmp", "var", "www"):
            _directory(archive, directory, 0o1777 if directory == "tmp" else 0o755)
        _file(archive, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in _busybox_applets(busybox):
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            link.mode = 0o777
            _add(archive, link)
        _file(archive, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
        _file(archive, "etc/group", b"root:x:0:\n")
        for name, data in sorted(spec.files.items()):
            _file(archive, name, data)
    return buffer.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def oci_archive(spec: ImageSpec, busybox: Path = BUSYBOX) -> bytes:
    """The image as an OCI layout tar, named by ``spec.reference`` for ``ctr images import``."""
    blobs: dict[str, bytes] = {}
    layer = rootfs_layer(spec, busybox)
    layer_digest = _blob(blobs, layer)
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Cmd": list(spec.command),
                "Env": ["PATH=/bin"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    )
    config_digest = _blob(blobs, config)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}],
        }
    )
    manifest_digest = _blob(blobs, manifest)
    index = _json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": spec.reference,
                        "org.opencontainers.image.ref.name": spec.reference.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _file(archive, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        _file(archive, "index.json", index)
        _directory(archive, "blobs")
        _directory(archive, "blobs/sha256")
        for digest, data in sorted(blobs.items()):
            _file(archive, f"blobs/sha256/{digest.split(':', 1)[1]}", data)
    return buffer.getvalue()


def write_archives(directory: Path, specs: Sequence[ImageSpec] = IMAGES) -> list[Path]:
    """Write one archive per image into ``directory`` and return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        name = spec.reference.replace("/", "_").replace(":", "_")
        path = directory / f"{name}.oci.tar"
        path.write_bytes(oci_archive(spec))
        paths.append(path)
    return paths
