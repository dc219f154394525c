"""OCI image archives for the dev cluster's real nodes: the one writer for every image.

An archive is an OCI image layout in a tar that ``ctr -n k8s.io images import`` accepts. The
busybox test images (``images.py``) and the operator image (``operator_image.py``, a few hundred
MiB) are both written here; every layer is a tar file on disk that the archive copies in
chunks, so no image has to fit in memory. Entries are root-owned with fixed times where the
caller does not keep them, so the same input always gives the same archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

Skip = Callable[[str], bool]


@dataclass(frozen=True)
class ExtraFile:
    data: bytes
    mode: int = 0o644


def root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def add_directory(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = root_owned(tarfile.TarInfo(name))
    info.type, info.mode = tarfile.DIRTYPE, mode
    archive.addfile(info)


def add_file(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = root_owned(tarfile.TarInfo(name))
    info.size, info.mode = len(data), mode
    archive.addfile(info, io.BytesIO(data))


def directory_layer(
    root: Path,
    destination: Path,
    extra: Mapping[str, ExtraFile] | None = None,
    extra_directories: Mapping[str, int] | None = None,
    skip: Skip = lambda _: False,
    prefix: str = "",
) -> None:
    """Tar ``root``'s tree (sorted, root-owned, mtimes kept so .pyc files stay valid; under
    ``prefix`` in the layer) plus ``extra`` files and ``extra_directories`` (name to mode)."""
    with tarfile.open(destination, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, mode in sorted((extra_directories or {}).items()):
            add_directory(archive, name, mode)
        for current, directories, files in os.walk(root):
            directories.sort()
            relative = Path(current).relative_to(root)
            for name in [*directories, *sorted(files)]:
                path = Path(current) / name
                arcname = str(relative / name)
                if skip(arcname):
                    continue
                info = root_owned(archive.gettarinfo(str(path), str(Path(prefix, arcname))))
                if info.isreg():
                    with path.open("rb") as handle:
                        archive.addfile(info, handle)
                else:
                    archive.addfile(info)
            directories[:] = [d for d in directories if not skip(str(relative / d))]
        for name, file in sorted((extra or {}).items()):
            add_file(archive, name, file.data, file.mode)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _bytes_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(
    reference: str, layers: Sequence[Path], config: Mapping[str, Any], destination: Path
) -> str:
    """Write an OCI layout tar of ``layers`` (uncompressed tars, bottom first) with the image
    ``config`` (its ``config`` section); returns the manifest digest."""
    layer_digests = [file_digest(layer) for layer in layers]
    config_blob = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
        }
    )
    config_digest = _bytes_digest(config_blob)
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config_digest,
                "size": len(config_blob),
            },
            "layers": [
                {"mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": layer.stat().st_size}
                for digest, layer in zip(layer_digests, layers, strict=True)
            ],
        }
    )
    manifest_digest = _bytes_digest(manifest)
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
                        "io.containerd.image.name": reference,
                        "org.opencontainers.image.ref.name": reference.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    )
    blobs: dict[str, bytes | Path] = {config_digest: config_blob, manifest_digest: manifest}
    blobs.update(zip(layer_digests, layers, strict=True))
    temporary = destination.with_suffix(".partial")
    with tarfile.open(temporary, mode="w", format=tarfile.PAX_FORMAT) as archive:
        add_file(archive, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        add_file(archive, "index.json", index)
        add_directory(archive, "blobs")
        add_directory(archive, "blobs/sha256")
        for digest, blob in sorted(blobs.items()):
            name = f"blobs/sha256/{digest.removeprefix('sha256:')}"
            if isinstance(blob, bytes):
                add_file(archive, name, blob)
                continue
            info = root_owned(archive.gettarinfo(str(blob), name))
            info.mtime, info.mode = 0, 0o644
            with blob.open("rb") as handle:
                archive.addfile(info, handle)
    temporary.replace(destination)
    return manifest_digest
