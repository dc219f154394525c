"""The busybox test images for real nodes, written through the one OCI layout writer."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from podpilot_dev import images, ocilayout


@pytest.fixture
def fake_busybox(tmp_path: Path) -> Path:
    """Stands in for Debian's static busybox: it lists its applets and is otherwise opaque."""
    busybox = tmp_path / "busybox"
    busybox.write_text("#!/bin/sh\nprintf 'sh\\nbusybox\\nls\\n'\n")
    busybox.chmod(0o755)
    return busybox


def _read_json(archive: tarfile.TarFile, name: str) -> Any:
    member = archive.extractfile(name)
    assert member is not None
    return json.load(member)


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    member = archive.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
    assert member is not None
    return member.read()


def test_every_blob_is_named_by_its_digest_and_a_shared_layer_is_stored_once(
    tmp_path: Path,
) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, mode="w") as archive:
        ocilayout.add_file(archive, "hello", b"hi\n")
    destination = tmp_path / "image.oci.tar"
    ocilayout.write_archive("example.dev/img:1", [layer, layer], {}, destination)
    with tarfile.open(destination) as archive:
        names = archive.getnames()
        for name in names:
            if name.startswith("blobs/sha256/"):
                member = archive.extractfile(name)
                assert member is not None
                assert hashlib.sha256(member.read()).hexdigest() == name.rsplit("/", 1)[1]
    assert names.count(f"blobs/sha256/{ocilayout.file_digest(layer)[7:]}") == 1
    assert not destination.with_suffix(".partial").exists()


def test_testbox_archive_names_the_image_and_carries_busybox_and_its_files(
    tmp_path: Path, fake_busybox: Path
) -> None:
    [path] = images.write_archives(tmp_path / "images", [images.TESTBOX], fake_busybox)
    assert path.name == "podpilot.dev_testbox_1.oci.tar"
    with tarfile.open(path) as archive:
        index = _read_json(archive, "index.json")
        entry = index["manifests"][0]
        manifest = json.loads(_blob(archive, entry["digest"]))
        config = json.loads(_blob(archive, manifest["config"]["digest"]))
        [layer_descriptor] = manifest["layers"]
        layer = _blob(archive, layer_descriptor["digest"])
    assert entry["annotations"] == {
        "io.containerd.image.name": "podpilot.dev/testbox:1",
        "org.opencontainers.image.ref.name": "1",
    }
    assert config["config"] == {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"}
    assert config["rootfs"]["diff_ids"] == [layer_descriptor["digest"]]
    assert layer_descriptor["mediaType"] == ocilayout.LAYER_MEDIA_TYPE
    (tmp_path / "layer.tar").write_bytes(layer)
    with tarfile.open(tmp_path / "layer.tar") as rootfs:
        members = {member.name: member for member in rootfs.getmembers()}
        index_html = rootfs.extractfile("www/index.html")
        assert index_html is not None and index_html.read() == b"podpilot testbox\n"
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].uname == "root"
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["bin/ls"].issym()
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert {"etc/passwd", "etc/group"} <= set(members)
    assert list((tmp_path / "images").iterdir()) == [path]  # the layer file is gone


def test_archives_are_reproducible(tmp_path: Path, fake_busybox: Path) -> None:
    first = images.write_archives(tmp_path / "a", images.IMAGES, fake_busybox)
    second = images.write_archives(tmp_path / "b", images.IMAGES, fake_busybox)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_a_missing_busybox_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(images.ImageError, match="busybox-static"):
        images.write_archives(tmp_path, [images.PAUSE], tmp_path / "no-busybox")
