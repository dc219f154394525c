"""Which kubeconfig, as kubectl reads it: several files merged, a context chosen by name.

``--kubeconfig`` (or ``$KUBECONFIG``) may name several files joined by ``os.pathsep``, as
kubectl takes them. The official client's ``KubeConfigMerger`` merges their clusters, users
and contexts (the first file to name one wins, as in kubectl); the current context is the
first one a file sets, also as in kubectl (the merger alone would keep the last); an empty
file is passed over, as kubectl passes it over. Relative
file references are made absolute against the file that holds them, so the merged document
serves both clients, the official one and pykube, from one reading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes

from podpilot.settings import KubeconfigSelection

DEFAULT_NAMESPACE = "default"
# Per kind of entry, the keys that name a file relative to the kubeconfig that holds them.
_FILE_KEYS = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
}


class KubeconfigError(Exception):
    """No kubeconfig file, or the chosen context is not in it."""


def merged_kubeconfig(selection: KubeconfigSelection) -> dict[str, Any]:
    """One kubeconfig document from every file of the search path, with the chosen context
    as its current context."""
    search_path = selection.search_path()
    merger = kubernetes.config.kube_config.KubeConfigMerger(  # type: ignore[no-untyped-call]
        _without_empty_files(search_path)
    )
    if merger.config is None:
        raise KubeconfigError(f"no kubeconfig file found at {search_path}")
    document: dict[str, Any] = {
        kind: [
            _absolute(kind, entry.value, Path(entry.path)) for entry in merger.config.value[kind]
        ]
        for kind in ("clusters", "users", "contexts")
    }
    first_current = next(
        (config["current-context"] for config in merger.config_files.values()
         if config.get("current-context")),
        None,
    )  # fmt: skip
    current = selection.context or first_current
    names = [context["name"] for context in document["contexts"]]
    if current is None:
        raise KubeconfigError(f"no current context in {search_path}; choose one with --context")
    if current not in names:
        known = ", ".join(names) or "none"
        raise KubeconfigError(f"context {current!r} is not in {search_path} (contexts: {known})")
    document["current-context"] = current
    return document


def _without_empty_files(search_path: str) -> str:
    """The search path without its empty files, which kubectl passes over (the merger would
    refuse them)."""
    return os.pathsep.join(
        path for path in search_path.split(os.pathsep) if not _empty_file(Path(path))
    )


def _empty_file(path: Path) -> bool:
    try:
        return path.is_file() and not path.read_bytes().strip()
    except OSError:  # unreadable: the merger says so
        return False


def context_namespace(document: Mapping[str, Any]) -> str:
    """The namespace of the document's current context, as kubectl defaults ``-n`` to."""
    for context in document.get("contexts") or []:
        if context.get("name") == document.get("current-context"):
            return str((context.get("context") or {}).get("namespace") or DEFAULT_NAMESPACE)
    return DEFAULT_NAMESPACE


def _absolute(kind: str, entry: Mapping[str, Any], source: Path) -> dict[str, Any]:
    copied = dict(entry)
    if kind not in _FILE_KEYS:
        return copied
    body_key, file_keys = _FILE_KEYS[kind]
    body = dict(copied.get(body_key) or {})
    for key in file_keys:
        if isinstance(body.get(key), str):
            # Against the file's folder made absolute, as client-go's ResolveLocalPaths.
            body[key] = str(source.absolute().parent / Path(body[key]).expanduser())
    copied[body_key] = body
    return copied
