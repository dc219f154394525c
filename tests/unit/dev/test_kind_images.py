"""The kind images' recipes, cache keys and shared-library check (no builds, no downloads)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from podpilot_dev import toolchain
from podpilot_dev.kind import elf, images, recipes
from podpilot_dev.ocilayout import ExtraFile


def _elf(interpreter: str | None, needed: tuple[str, ...]) -> bytes:
    """A minimal ELF64 file: a PT_INTERP segment, a .dynamic section and its string table."""
    strings = b"\0" + b"".join(name.encode() + b"\0" for name in needed)
    offsets = [1 + sum(len(n) + 1 for n in needed[:i]) for i in range(len(needed))]
    dynamic = b"".join(struct.pack("<qQ", elf.DT_NEEDED, o) for o in offsets)
    dynamic += struct.pack("<qQ", 0, 0)
    interp = (interpreter.encode() + b"\0") if interpreter else b""
    phoff, program_headers = 64, 1 if interpreter else 0
    interp_at = phoff + 56 * program_headers
    strings_at = interp_at + len(interp)
    dynamic_at = strings_at + len(strings)
    shoff = dynamic_at + len(dynamic)
    header = MAGIC_HEADER + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, shoff, 0, 64, 56, program_headers, 64, 3, 0
    )
    segments = b""
    if interpreter:
        segments = struct.pack(
            "<IIQQQQQQ", elf.PT_INTERP, 4, interp_at, 0, 0, len(interp), len(interp), 1
        )
    sections = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    sections += struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, strings_at, len(strings), 0, 0, 1, 0)
    sections += struct.pack(
        "<IIQQQQIIQQ", 0, elf.SHT_DYNAMIC, 0, 0, dynamic_at, len(dynamic), 1, 0, 8, 16
    )
    return header + segments + interp + strings + dynamic + sections


MAGIC_HEADER = elf.MAGIC + bytes([2, 1, 1, 0]) + bytes(8)


def test_linkage_reads_the_loader_and_needed_libraries() -> None:
    found = elf.linkage(_elf("/lib64/ld-linux-x86-64.so.2", ("libm.so.6", "libc.so.6")))
    assert found == elf.Linkage("/lib64/ld-linux-x86-64.so.2", ("libm.so.6", "libc.so.6"))
    assert elf.linkage(_elf(None, ())) == elf.Linkage(None, ())
    with pytest.raises(ValueError):
        elf.linkage(b"#!/bin/sh\n")


def test_missing_libraries_are_looked_up_in_the_image_not_on_the_host(tmp_path: Path) -> None:
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/tool").write_bytes(
        _elf("/lib64/ld-linux-x86-64.so.2", ("libxtables.so.12", "libc.so.6"))
    )
    assert elf.missing_libraries(tmp_path) == {
        "usr/sbin/tool": ["/lib64/ld-linux-x86-64.so.2", "libxtables.so.12", "libc.so.6"]
    }
    libraries = tmp_path / "lib/x86_64-linux-gnu"
    libraries.mkdir(parents=True)
    for name in ("libc.so.6", "ld-linux-x86-64.so.2"):
        (libraries / name).write_bytes(b"not checked")
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libxtables.so.12").write_bytes(b"x")
    (tmp_path / "lib64").mkdir()
    # Debian's loader link is absolute: it must resolve inside the image.
    (tmp_path / "lib64/ld-linux-x86-64.so.2").symlink_to(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    )
    assert elf.missing_libraries(tmp_path) == {}


def _key(spec: recipes.Recipe, debs: list[str], binary: Path) -> str:
    return images.cache_key(spec, [Path(d) for d in debs], {"bin/tool": binary})


def test_the_cache_key_follows_every_input(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"one")
    spec = recipes.FLANNEL
    base = _key(spec, ["libc6_2.36-9_amd64.deb"], binary)
    assert _key(spec, ["libc6_2.36-9_amd64.deb"], binary) == base
    assert _key(spec, ["libc6_2.36-10_amd64.deb"], binary) != base
    changed_file = recipes.Recipe(
        spec.name, spec.command, spec.user, spec.debs, spec.binaries,
        {**spec.files, "etc/extra": ExtraFile(b"x")}, spec.links, spec.busybox, spec.skipped,
    )  # fmt: skip
    assert _key(changed_file, ["libc6_2.36-9_amd64.deb"], binary) != base
    binary.write_bytes(b"two")
    assert _key(spec, ["libc6_2.36-9_amd64.deb"], binary) != base


def test_references_are_local_and_tagged_with_the_key() -> None:
    reference = recipes.reference("flannel", "0123456789abcdef" * 4)
    assert re.fullmatch(r"podpilot\.dev/flannel:[0-9a-f]{12}", reference)
    with pytest.raises(KeyError, match="known: flannel"):
        recipes.recipe("kindnetd")


def test_recipes_run_as_nobody_except_flannel() -> None:
    users = {spec.name: spec.image_config()["User"] for spec in recipes.RECIPES}
    assert users == {
        "flannel": "0:0",
        "metrics-server": "65534:65534",
        "prometheus-adapter": "65534:65534",
        "prometheus": "65534:65534",
        "cpuburn": "65534:65534",
        "busybox": "65534:65534",
    }
    for spec in recipes.RECIPES:
        assert set(spec.binaries.values()) <= set(images.GO_COMPONENTS)


def test_every_go_binary_has_a_component_that_builds_it() -> None:
    known = {c.name: c for c in (*toolchain.COMPONENTS, *images.KIND_IMAGE_COMPONENTS)}
    for binary, component in images.GO_COMPONENTS.items():
        assert binary in {name for name, _ in known[component].binaries}
    prometheus = known["prometheus"]
    assert prometheus.tag_flags == ["-tags", "remove_all_sd,enable_kubernetes_sd"]


def test_every_iptables_name_goes_through_the_mode_picking_wrapper() -> None:
    links = recipes.FLANNEL.links
    assert set(links) == {f"usr/sbin/{n}" for n in recipes.IPTABLES_COMMANDS}
    assert set(links.values()) == {"../local/sbin/iptables-wrapper"}
    assert "usr/local/sbin/iptables-wrapper" in recipes.FLANNEL.files
    for name in recipes.IPTABLES_COMMANDS:
        assert name in recipes.IPTABLES_WRAPPER


def test_documentation_and_unused_tools_stay_out() -> None:
    assert recipes.FLANNEL.is_skipped("usr/share/doc/iptables/copyright")
    assert recipes.FLANNEL.is_skipped("usr/sbin/iptables-apply")
    assert not recipes.FLANNEL.is_skipped("usr/sbin/xtables-nft-multi")
    assert not recipes.FLANNEL.is_skipped("usr/lib/x86_64-linux-gnu/xtables/libxt_statistic.so")


def test_a_rebuild_removes_only_its_own_older_archives(tmp_path: Path) -> None:
    names = [
        "prometheus-0123456789ab",
        "prometheus-ba9876543210",
        "prometheus-adapter-0123456789ab",
    ]
    for name in names:
        (tmp_path / f"{name}.oci.tar").write_bytes(b"")
    current = tmp_path / "prometheus-ba9876543210.oci.tar"
    stale = images.stale_archives(tmp_path, "prometheus", current)
    assert stale == [tmp_path / "prometheus-0123456789ab.oci.tar"]
