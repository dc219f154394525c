"""Where the kind tooling keeps its cache (rebuildable) and its cluster state."""

from __future__ import annotations

import os
from pathlib import Path

from podpilot_dev.paths import cache_root

CLUSTER_NAME = "podpilot"


def kind_cache() -> Path:
    """Rootfs, image archives, node image archives and podman's store live here."""
    return cache_root() / "kind"


def kind_state() -> Path:
    """The kind cluster's kubeconfig. Not under the dev cluster's state directory, which
    ``cluster up`` and ``cluster down`` remove whole."""
    configured = os.environ.get("PODPILOT_KIND_DIR")
    if configured:
        return Path(configured)
    return cache_root() / "kind-cluster"


def kubeconfig() -> Path:
    return kind_state() / "kubeconfig"
