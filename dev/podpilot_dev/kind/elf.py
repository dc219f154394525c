"""Just enough ELF reading to check that an image holds every shared library it needs.

``ldd`` would answer with the host's libraries; an image's closure has to be checked against
its own tree, so this reads ``PT_INTERP`` and the ``DT_NEEDED`` entries itself (64-bit
little-endian only, which is all the images are).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"\x7fELF"
PT_INTERP = 3
SHT_DYNAMIC = 6
DT_NEEDED = 1
# Where Debian's dynamic loader looks without an ld.so.cache (its built-in multiarch paths).
LIBRARY_DIRECTORIES = (
    "lib/x86_64-linux-gnu",
    "usr/lib/x86_64-linux-gnu",
    "lib64",
    "lib",
    "usr/lib",
)


@dataclass(frozen=True)
class Linkage:
    interpreter: str | None
    needed: tuple[str, ...]


def is_elf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == MAGIC


def linkage(data: bytes) -> Linkage:
    """The loader and the libraries an ELF64 file asks for; a static binary has neither."""
    if data[:4] != MAGIC or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    interpreter = None
    for index in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + index * phentsize
        )
        if p_type == PT_INTERP:
            interpreter = data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
    needed: list[str] = []
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + index * shentsize) for index in range(shnum)
    ]
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != SHT_DYNAMIC:
            continue
        strings_offset = sections[link][4]
        for entry in range(size // (entsize or 16)):
            tag, value = struct.unpack_from("<qQ", data, offset + entry * 16)
            if tag == DT_NEEDED:
                start = strings_offset + value
                needed.append(data[start : data.index(b"\0", start)].decode())
    return Linkage(interpreter, tuple(needed))


def elf_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and is_elf(path):
            yield path


def missing_libraries(root: Path, files: Iterable[Path] | None = None) -> dict[str, list[str]]:
    """For each ELF file under ``root`` (image path), the loader or libraries it would not
    find in the image; empty when the closure is complete."""
    missing: dict[str, list[str]] = {}
    for path in files if files is not None else elf_files(root):
        found = linkage(path.read_bytes())
        absent = []
        if found.interpreter and not _exists(root, found.interpreter.lstrip("/")):
            absent.append(found.interpreter)
        for library in found.needed:
            if not any(_exists(root, f"{d}/{library}") for d in LIBRARY_DIRECTORIES):
                absent.append(library)
        if absent:
            missing[str(path.relative_to(root))] = absent
    return missing


def _exists(root: Path, relative: str) -> bool:
    # Symlinks inside the image may be absolute; resolve them against the image, not the host.
    path = root / relative
    for _ in range(16):
        if not path.is_symlink():
            return path.exists()
        target = path.readlink()
        path = root / str(target).lstrip("/") if target.is_absolute() else path.parent / target
    return False
