"""OCI image archives streamed to disk, for images too large to build in memory.

``images.py`` builds the small busybox images in memory; the operator image is a few hundred
MiB, so here every layer is a tar file on disk and the archive copies it in chunks. The result
is the same kind of OCI layout tar that ``ctr -n k8s.io images import`` accepts.
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

from podpilot.devcluster.images import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE

Skip = Callable[[str], bool]


@dataclass(frozen=True)
class ExtraFile:
    data: bytes
    mode: int = 0o644


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


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
            info = _root_owned(tarfile.TarInfo(name))
            info.type, info.mode = tarfile.DIRTYPE, mode
            archive.addfile(info)
        for current, directories, files in os.walk(root):
            directories.sort()
            relative = Path(current).relative_to(root)
            for name in [*directories, *sorted(files)]:
                path = Path(current) / name
                arcname = str(relative / name)
                if skip(arcname):
                    continue
                info = _root_owned(archive.gettarinfo(str(path), str(Path(prefix, arcname))))
                if info.isreg():
                    with path.open("rb") as handle:
                        archive.addfile(info, handle)
                else:
                    archive.addfile(info)
            directories[:] = [d for d in directories if not skip(str(relative / d))]
        for name, file in sorted((extra or {}).items()):
            info = _root_owned(tarfile.TarInfo(name))
            info.size, info.mode = len(file.data), file.mode
            archive.addfile(info, io.BytesIO(file.data))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _root_owned(tarfile.TarInfo(name))
    info.size, info.mode = len(data), 0o644
    archive.addfile(info, io.BytesIO(data))


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
    config_digest = "sha256:" + hashlib.sha256(config_blob).hexdigest()
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
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
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
    temporary = destination.with_suffix(".partial")
    with tarfile.open(temporary, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(archive, "index.json", index)
        for directory in ("blobs", "blobs/sha256"):
            info = _root_owned(tarfile.TarInfo(directory))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for digest, data in ((config_digest, config_blob), (manifest_digest, manifest)):
            _add_bytes(archive, f"blobs/sha256/{digest.split(':', 1)[1]}", data)
        for digest, layer in zip(layer_digests, layers, strict=True):
            info = _root_owned(archive.gettarinfo(str(layer), f"blobs/sha256/{digest[7:]}"))
            info.mtime, info.mode = 0, 0o644
            with layer.open("rb") as handle:
                archive.addfile(info, handle)
    temporary.replace(destination)
    return manifest_digest
