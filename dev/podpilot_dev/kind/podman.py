"""podman configured by files under the cache, never by /etc: the provider kind runs on.

This machine's constraints (no systemd on the host, no CAP_SYS_RESOURCE, no /lib/modules)
are answered here; each setting says why. Nothing here pulls: the pull policy is ``never``
and no registry is searched for short names.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from podpilot_dev.kind.locations import kind_cache

DEFAULT_TIMEOUT = 120.0
# podman as root asks for RLIMIT_NOFILE 1048576 and an unbounded RLIMIT_NPROC; without
# CAP_SYS_RESOURCE, runc fails to set either above the hard limit ("error setting rlimit").
DEFAULT_ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")


class PodmanError(RuntimeError):
    """A podman command failed or timed out; the message carries its output."""


def podman_dir() -> Path:
    return kind_cache() / "podman"


def containers_conf(directory: Path) -> str:
    ulimits = ", ".join(f'"{limit}"' for limit in DEFAULT_ULIMITS)
    return f"""# Written by podpilot-dev (podpilot_dev.kind.podman); regenerated on every run.
[containers]
# kind passes no --ulimit, so these apply to its node containers too.
default_ulimits = [{ulimits}]

[engine]
# The host runs no systemd: no systemd cgroup manager, no journald.
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{directory / "events.log"}"
# Every image is built here; nothing may ever be pulled from a registry.
pull_policy = "never"

[network]
# netavark with aardvark-dns: kind's nodes find each other by name. The CNI backend (chosen
# when Debian's CNI plugins are installed) has no DNS here and keeps its networks in /etc.
network_backend = "netavark"
network_config_dir = "{directory / "networks"}"
"""


def storage_conf(directory: Path) -> str:
    return f"""# Written by podpilot-dev (podpilot_dev.kind.podman); regenerated on every run.
[storage]
driver = "overlay"
graphroot = "{directory / "storage"}"
runroot = "{directory / "run"}"
"""


REGISTRIES_CONF = """# Written by podpilot-dev: short image names are never looked up anywhere.
unqualified-search-registries = []
"""


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for podman and kind: our config files, kind's podman provider."""
    directory = podman_dir()
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "containers.conf": containers_conf(directory),
        "storage.conf": storage_conf(directory),
        "registries.conf": REGISTRIES_CONF,
    }
    for name, text in files.items():
        _write_if_changed(directory / name, text)
    # kind bind-mounts /lib/modules into every node; this machine has none.
    Path("/lib/modules").mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ if base is None else base)
    environment.update(
        CONTAINERS_CONF=str(directory / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(directory / "storage.conf"),
        CONTAINERS_REGISTRIES_CONF=str(directory / "registries.conf"),
        KIND_EXPERIMENTAL_PROVIDER="podman",
    )
    return environment


def run(
    arguments: Sequence[str], timeout: float = DEFAULT_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``podman ARGUMENTS`` with our configuration; raises PodmanError on failure."""
    command = ["podman", *arguments]
    try:
        result = subprocess.run(
            command, env=environment(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        raise PodmanError(f"{' '.join(command)} timed out after {timeout:.0f}s") from error
    if check and result.returncode != 0:
        raise PodmanError(f"{' '.join(command)} failed: {result.stderr.strip()[-2000:]}")
    return result


def image_exists(reference: str) -> bool:
    return run(["image", "exists", reference], check=False).returncode == 0
