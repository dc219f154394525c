"""Where the dev cluster keeps its cache, its state and its source files."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Built binaries live here, outside the repository, shared by every clone."""
    configured = os.environ.get("PODPILOT_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "podpilot"


STATE_DIR_ENV = "PODPILOT_DEV_CLUSTER_DIR"


def state_root() -> Path:
    """A running cluster's PKI, kubeconfig, data, logs and process table live here."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    return cache_root() / "dev-cluster"


def repo_root() -> Path:
    """The checkout this package runs from; the Go tools modules are part of it."""
    here = Path(__file__).resolve()
    for candidate in here.parents:
        if (candidate / "tools" / "k8s" / "go.mod").exists():
            return candidate
    raise FileNotFoundError(
        "the dev cluster needs a podpilot source checkout (tools/*/go.mod); "
        f"none found above {here}"
    )
