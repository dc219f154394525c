"""Which kubeconfig, as kubectl reads it: several files merged, a context chosen by name.

``--kubeconfig`` (or ``$KUBECONFIG``) may name several files joined by ``os.pathsep``, as
kubectl takes them. The official client's ``KubeConfigMerger`` merges their clusters, users
and contexts (the first file to name one wins, as in kubectl); the current context is the
first one a file sets, also as in kubectl (the merger alone would keep the last); an empty
file is passed over, as kubectl passes it over. Relative file references are made absolute
against the file that holds them, and the current cluster's ``server`` is made a URL as
client-go makes it, so the merged document serves both clients, the official one and pykube,
from one reading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes

from podpilot.settings import KubeconfigSelection

DEFAULT_NAMESPACE = "default"
# Per kind of entry, the keys that name a file relative to the kubeconfig that holds them, as
# client-go's GetClusterFileReferences and GetAuthInfoFileReferences list them; a user's
# ``exec.command`` is one too when it holds a path separator (``_with_command_resolved``).
_FILE_KEYS = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
}


class KubeconfigError(Exception):
    """No kubeconfig file, the chosen context is not in it, or its server is no URL."""


class NoKubeconfigError(KubeconfigError):
    """Nothing to use in the search path: no file, or no current context. client-go turns to
    the in-cluster credentials then, when there are some."""


def merged_kubeconfig(selection: KubeconfigSelection) -> dict[str, Any]:
    """One kubeconfig document from every file of the search path, with the chosen context
    as its current context."""
    search_path = selection.search_path()
    merger = kubernetes.config.kube_config.KubeConfigMerger(  # type: ignore[no-untyped-call]
        _without_empty_files(search_path)
    )
    if merger.config is None:
        raise NoKubeconfigError(f"no kubeconfig file found at {search_path}")
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
        raise NoKubeconfigError(f"no current context in {search_path}; choose one with --context")
    if current not in names:
        known = ", ".join(names) or "none"
        raise KubeconfigError(f"context {current!r} is not in {search_path} (contexts: {known})")
    document["current-context"] = current
    _make_server_a_url(document)
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
    return str(_current_context(document).get("namespace") or DEFAULT_NAMESPACE)


def with_default_namespace(document: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The document with ``namespace`` as its current context's namespace, unless the context
    names one."""
    contexts = []
    for entry in document.get("contexts") or []:
        if entry.get("name") == document.get("current-context"):
            body = entry.get("context") or {}
            entry = {**entry, "context": {**body, "namespace": body.get("namespace") or namespace}}
        contexts.append(entry)
    return {**document, "contexts": contexts}


def server_url(server: str, over_tls: bool) -> str:
    """``server`` as client-go's DefaultServerURL reads it: a URL is kept as it is; a host or
    a host:port gets ``https://`` when the cluster is reached over TLS, else ``http://``.

    Raises:
        KubeconfigError: ``server`` has no scheme, and a path or a port that is no number.
    """
    try:
        parts = urlsplit(server)
        if parts.scheme and parts.netloc:
            return server
        url = ("https://" if over_tls else "http://") + server
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number raises ValueError
    except ValueError:
        parts = None
    if parts is None or parts.path not in ("", "/"):
        raise KubeconfigError(f'host must be a URL or a host:port pair: "{server}"')
    return url


def _make_server_a_url(document: dict[str, Any]) -> None:
    """The current context's cluster's ``server`` made a URL with client-go's choice of scheme
    (its defaultTLS): TLS when the cluster has a CA or skips verification, or the user has a
    client certificate. Both clients would take a bare host:port for plain HTTP, and send the
    credentials in the clear."""
    context = _current_context(document)
    cluster = _body(document, "clusters", "cluster", context.get("cluster"))
    user = _body(document, "users", "user", context.get("user"))
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        return  # the clients' loading names the cluster without a server
    over_tls = (
        bool(cluster.get("certificate-authority") or cluster.get("certificate-authority-data"))
        or cluster.get("insecure-skip-tls-verify") is True
        or bool(user.get("client-certificate") or user.get("client-certificate-data"))
    )
    cluster["server"] = server_url(server, over_tls)


def _current_context(document: Mapping[str, Any]) -> Mapping[str, Any]:
    for entry in document.get("contexts") or []:
        if entry.get("name") == document.get("current-context"):
            return entry.get("context") or {}
    return {}


def _body(document: Mapping[str, Any], kind: str, body_key: str, name: object) -> dict[str, Any]:
    """The body of the entry of ``kind`` named ``name`` (the document's own, to change), or a
    new empty one."""
    for entry in document.get(kind) or []:
        body = entry.get(body_key)
        if entry.get("name") == name and isinstance(body, dict):
            return body
    return {}


def _absolute(kind: str, entry: Mapping[str, Any], source: Path) -> dict[str, Any]:
    copied = dict(entry)
    if kind not in _FILE_KEYS:
        return copied
    body_key, file_keys = _FILE_KEYS[kind]
    folder = source.absolute().parent
    body = dict(copied.get(body_key) or {})
    for key in file_keys:
        if isinstance(body.get(key), str) and body[key]:
            body[key] = _against(folder, body[key])
    if isinstance(body.get("exec"), Mapping):
        body["exec"] = _with_command_resolved(body["exec"], folder)
    copied[body_key] = body
    return copied


def _with_command_resolved(exec_config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The exec plugin's section with its command against ``folder`` when the command is a
    path (``./plugin.sh``, ``bin/plugin``); a bare name (``aws``) is left to ``$PATH``."""
    command = exec_config.get("command")
    if isinstance(command, str) and os.sep in command:
        return {**exec_config, "command": _against(folder, command)}
    return dict(exec_config)


def _against(folder: Path, reference: str) -> str:
    """``reference`` against the kubeconfig's folder, made absolute, as client-go's
    ResolveLocalPaths (an absolute one is kept)."""
    return str(folder / Path(reference).expanduser())
