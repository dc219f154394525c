"""What goes into each image that runs inside the kind cluster; pure data, no I/O.

A recipe names Debian packages to unpack (``apt-get download`` + ``dpkg-deb -x``, never
installed), Go binaries from the toolchain to copy in, and a few files. ``images.py`` turns a
recipe into a one-layer OCI archive and checks that every ELF file's loader and shared
libraries are in the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from podpilot_dev.ocilayout import ExtraFile

REPOSITORY = "podpilot.dev"
NOBODY = 65534
RECIPE_VERSION = "1"  # bump when an image changes without its inputs changing

# Never part of an image: documentation, iconv's converters (nothing here uses iconv), and the
# packages' maintainer bits that dpkg-deb -x unpacks but nothing runs.
ALWAYS_SKIPPED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/lintian",
    "usr/lib/x86_64-linux-gnu/gconv",
    "etc/init.d",
    "etc/default",
    "lib/systemd",
    "usr/lib/systemd",
)

GLIBC = ("libc6",)
IPTABLES = (
    "iptables",
    "libip4tc2",
    "libip6tc2",
    "libxtables12",
    "libmnl0",
    "libnetfilter-conntrack3",
    "libnfnetlink0",
    "libnftnl11",
    "netbase",  # /etc/protocols and /etc/services for iptables' name lookups
)

# Like kubernetes-sigs/iptables-wrappers: on first use, pick the backend the node already uses
# (the one holding more rules, written by the kubelet and kube-proxy), point the iptables names
# at it (rename is atomic, so concurrent first calls are fine) and run the real command.
IPTABLES_WRAPPER = """#!/bin/sh
count() {
  (xtables-$1-multi iptables-save; xtables-$1-multi ip6tables-save) 2>/dev/null | grep -c '^-'
}
legacy=$(count legacy)
nft=$(count nft)
mode=nft
if [ "${legacy:-0}" -gt "${nft:-0}" ]; then mode=legacy; fi
for name in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf "xtables-$mode-multi" "/usr/sbin/.$name.$$"
  mv -f "/usr/sbin/.$name.$$" "/usr/sbin/$name"
done
exec "/usr/sbin/${0##*/}" "$@"
"""
IPTABLES_COMMANDS = (
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
)

PASSWD = (
    f"root:x:0:0:root:/root:/bin/sh\nnobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/bin/false\n"
)
GROUP = f"root:x:0:\nnogroup:x:{NOBODY}:\n"
NSSWITCH = "hosts: files dns\nnetworks: files\n"
SKELETON = {
    "etc/passwd": ExtraFile(PASSWD.encode()),
    "etc/group": ExtraFile(GROUP.encode()),
    "etc/nsswitch.conf": ExtraFile(NSSWITCH.encode()),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    command: tuple[str, ...]
    user: int = NOBODY
    debs: tuple[str, ...] = ()
    # image path -> toolchain binary name (see images.GO_COMPONENTS)
    binaries: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, ExtraFile] = field(default_factory=dict)
    # image path -> target: symlinks (e.g. iptables' names to the wrapper)
    links: Mapping[str, str] = field(default_factory=dict)
    busybox: bool = False  # link every busybox applet into /bin (busybox-static must be in debs)
    # image paths of the packages' files to leave out, besides ALWAYS_SKIPPED
    skipped: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)

    def image_config(self) -> dict[str, object]:
        return {
            "User": f"{self.user}:{self.user}",
            "Entrypoint": list(self.command),
            "Env": list(self.env),
            "WorkingDir": "/",
        }

    def is_skipped(self, name: str) -> bool:
        return any(name == p or name.startswith(p + "/") for p in (*ALWAYS_SKIPPED, *self.skipped))


FLANNEL = Recipe(
    "flannel",
    ("/opt/bin/flanneld",),
    user=0,
    debs=(*GLIBC, *IPTABLES, "busybox-static"),
    binaries={"opt/bin/flanneld": "flanneld"},
    files={"usr/local/sbin/iptables-wrapper": ExtraFile(IPTABLES_WRAPPER.encode(), 0o755)},
    links={f"usr/sbin/{name}": "../local/sbin/iptables-wrapper" for name in IPTABLES_COMMANDS},
    busybox=True,
    # iptables-apply is a bash script (and its ip6tables link), nfnl_osf a tool: not needed.
    skipped=(
        "usr/sbin/iptables-apply",
        "usr/sbin/ip6tables-apply",
        "usr/sbin/nfnl_osf",
        "usr/share/iptables",
    ),
    env=("PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin",),
)
METRICS_SERVER = Recipe(
    "metrics-server", ("/metrics-server",), binaries={"metrics-server": "metrics-server"}
)
PROMETHEUS_ADAPTER = Recipe(
    "prometheus-adapter", ("/adapter",), binaries={"adapter": "prometheus-adapter"}
)
# Built from Go modules (Debian's prometheus 2.42 has no Kubernetes service discovery), so
# static like the others.
PROMETHEUS = Recipe("prometheus", ("/bin/prometheus",), binaries={"bin/prometheus": "prometheus"})
CPUBURN = Recipe("cpuburn", ("/cpuburn",), binaries={"cpuburn": "cpuburn"})
# A shell and coreutils for workloads that write files (the emptyDir tests and demo).
BUSYBOX = Recipe("busybox", ("/bin/sh",), debs=("busybox-static",), busybox=True)

RECIPES: tuple[Recipe, ...] = (
    FLANNEL, METRICS_SERVER, PROMETHEUS_ADAPTER, PROMETHEUS, CPUBURN, BUSYBOX
)  # fmt: skip


def recipe(name: str) -> Recipe:
    for candidate in RECIPES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no kind image named {name!r}; known: {', '.join(r.name for r in RECIPES)}")


def reference(name: str, key: str) -> str:
    return f"{REPOSITORY}/{name}:{key[:12]}"
