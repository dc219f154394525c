"""iptables for kube-proxy's image, taken from the node's Debian rootfs.

kube-proxy runs ``iptables``, ``iptables-save`` and ``iptables-restore`` (and the ip6tables
ones). The image carries both xtables back ends (legacy and nft), every xtables extension
(they are dlopened, so their libraries are found here, not by the binaries' own links: e.g.
``libxt_statistic.so`` needs ``libm``), the shared-library closure of all of that, and a small
wrapper that picks the mode whose rules the node already has, as kind's entrypoint does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from podpilot_dev.kind.steps import KindError, run

XTABLES_BINARIES = ("usr/sbin/xtables-legacy-multi", "usr/sbin/xtables-nft-multi")
XTABLES_EXTENSIONS = "usr/lib/x86_64-linux-gnu/xtables"
SHELL = "usr/bin/dash"
EXTRA_FILES = ("etc/protocols", "etc/services", "etc/ethertypes")
WRAPPED_COMMANDS = tuple(
    f"{family}{suffix}"
    for family in ("iptables", "ip6tables")
    for suffix in ("", "-save", "-restore")
)
# merged /usr, as in the node: libraries are looked up under /lib and /lib64 too
MERGED_USR_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}

WRAPPER = """#!/bin/sh
# Runs iptables in the mode the node already uses: the back end holding more rules wins
# (nft when neither has any), decided once per container. Written by podpilot-dev.
mode_file=/run/podpilot-iptables-mode
count_rules() {
    rules=0
    while IFS= read -r line; do
        case $line in -*) rules=$((rules + 1)) ;; esac
    done
    echo "$rules"
}
mode=
if [ -r "$mode_file" ]; then read -r mode < "$mode_file" || mode=; fi
case $mode in
legacy | nft) ;;
*)
    legacy=$( { /usr/sbin/xtables-legacy-multi iptables-save; \
        /usr/sbin/xtables-legacy-multi ip6tables-save; } 2>/dev/null | count_rules)
    nft=$( { /usr/sbin/xtables-nft-multi iptables-save; \
        /usr/sbin/xtables-nft-multi ip6tables-save; } 2>/dev/null | count_rules)
    mode=nft
    if [ "$legacy" -gt "$nft" ]; then mode=legacy; fi
    echo "$mode" > "$mode_file" || true
    ;;
esac
exec "/usr/sbin/xtables-$mode-multi" "${0##*/}" "$@"
"""


def shared_libraries(ldd_output: str) -> list[str]:
    """The absolute library paths ``ldd`` names (``x => /path (addr)`` or ``/path (addr)``)."""
    paths: list[str] = []
    for line in ldd_output.splitlines():
        words = line.split()
        if "=>" in words:
            words = words[words.index("=>") + 1 :]
        if words and words[0].startswith("/"):
            paths.append(words[0])
    return paths


def resolve_inside(rootfs: Path, path: str) -> str:
    """``path`` with every symbolic link resolved as if ``rootfs`` were ``/`` (Debian's
    ``/usr/lib64/ld-linux-x86-64.so.2`` is an absolute link, which must not reach the host)."""
    pending = [part for part in path.split("/") if part]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = rootfs.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise KindError(f"too many symbolic links resolving {path} in {rootfs}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p] + pending
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def _place(rootfs: Path, stage: Path, path: str) -> None:
    """Copy ``path`` from the rootfs to the same file name in the stage, under its directory's
    canonical name (the stage has merged /usr's links too, so both names work)."""
    directory = resolve_inside(rootfs, str(Path(path).parent)).lstrip("/")
    destination = stage / directory / Path(path).name
    if destination.exists():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(rootfs / resolve_inside(rootfs, path).lstrip("/"), destination)


def add_iptables(rootfs: Path, stage: Path) -> None:
    extensions = sorted((rootfs / XTABLES_EXTENSIONS).glob("*.so"))
    programs = [f"/{binary}" for binary in (*XTABLES_BINARIES, SHELL)]
    programs += [f"/{XTABLES_EXTENSIONS}/{extension.name}" for extension in extensions]
    libraries: set[str] = set()
    for program in programs:
        output = run(["chroot", str(rootfs), "/usr/bin/ldd", program], timeout=30)
        libraries.update(shared_libraries(output))
    for path in [*programs, *sorted(libraries)]:
        _place(rootfs, stage, path)
    for name in EXTRA_FILES:
        if (rootfs / name).exists():
            _place(rootfs, stage, f"/{name}")
    for name, target in MERGED_USR_LINKS.items():
        (stage / target).mkdir(parents=True, exist_ok=True)
        (stage / name).symlink_to(target)
    (stage / "usr/bin/sh").symlink_to("dash")
    (stage / "usr/sbin/iptables-wrapper").write_text(WRAPPER)
    (stage / "usr/sbin/iptables-wrapper").chmod(0o755)
    for command in WRAPPED_COMMANDS:
        (stage / "usr/sbin" / command).symlink_to("iptables-wrapper")
    (stage / "run").mkdir(exist_ok=True)
