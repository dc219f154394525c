"""A kubeconfig user's exec credential plugin (``users[].user.exec``), run with a time limit.

The plugin is started as the kubernetes client starts it (the command and its ``args``, the
process environment with the user's ``env`` on top, ``KUBERNETES_EXEC_INFO``), except that
nothing waits for it without a limit: after :data:`EXEC_PLUGIN_TIMEOUT` it is killed, with any
process it started, and the run fails with a message naming the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podpilot.apimachinery.api_status import one_line

EXEC_PLUGIN_TIMEOUT = 60.0
"""Seconds an exec credential plugin may take to print its credential: a plugin that asks an
identity provider (EKS, GKE, an OIDC login) answers in a few seconds; one that waits on an
unreachable provider or a prompt nobody sees is stopped."""
LONGEST_STDERR = 500
"""Characters of the plugin's stderr kept in an error: the message is one line."""


class ExecPluginError(OSError):
    """The plugin gave no credential: it could not be started, timed out, failed, or printed
    something else. An ``OSError``, as a connection that could not be made: the API call it
    was for got no answer, and every caller already reports those (``TRANSPORT_ERRORS``)."""


def _one_line(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= LONGEST_STDERR else line[:LONGEST_STDERR] + "..."


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill the plugin and whatever it started (a shell script's ``aws``), which would hold
    its output open; then reap it."""
    if sys.platform == "win32":
        process.kill()
    else:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@dataclass(frozen=True)
class ExecPlugin:
    """One user's ``exec`` section, read from the kubeconfig (and the cluster's, when the
    plugin asks for it with ``provideClusterInfo``)."""

    command: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    api_version: str
    cluster: Mapping[str, Any] | None = None
    install_hint: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], cluster: Mapping[str, Any]) -> ExecPlugin:
        """Raises:
        ExecPluginError: If the section lacks ``command`` or ``apiVersion``, or is malformed.
        """
        for key in ("command", "apiVersion"):
            if not isinstance(config.get(key), str):
                raise ExecPluginError(f"exec: malformed request. missing key {key!r}")
        args = config.get("args") or []
        env = config.get("env") or []
        try:
            variables = {str(item["name"]): str(item["value"]) for item in env}
        except (KeyError, TypeError) as error:
            raise ExecPluginError(f"exec: malformed env entry: {error}") from None
        if not isinstance(args, list):
            raise ExecPluginError("exec: malformed request. args is not a list")
        return cls(
            command=config["command"],
            args=tuple(str(arg) for arg in args),
            env=variables,
            api_version=config["apiVersion"],
            cluster=dict(cluster) if config.get("provideClusterInfo") else None,
            install_hint=str(config.get("installHint") or ""),
        )

    def failure(self, reason: str) -> ExecPluginError:
        return ExecPluginError(f"the exec credential plugin failed: {self.command}: {reason}")

    def exec_info(self) -> str:
        """``KUBERNETES_EXEC_INFO`` as the kubernetes client writes it, but never interactive:
        the plugin runs from API calls at any time, where no one answers a prompt, so one that
        needs a prompt fails within the limit instead of waiting (kubectl's ``Never`` mode)."""
        spec: dict[str, Any] = {"interactive": False}
        if self.cluster is not None:
            cluster = dict(self.cluster)
            for extension in cluster.get("extensions") or []:
                if extension.get("name") == "client.authentication.k8s.io/exec":
                    cluster["config"] = extension.get("extension")
                    break
            spec["cluster"] = cluster
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    def run(self, timeout: float) -> dict[str, Any]:
        """Run the plugin once and return its ``status`` (a token, or client certificates).

        Raises:
            ExecPluginError: If it cannot be started, runs longer than ``timeout`` seconds
                (it is killed), exits non-zero, or prints no ExecCredential of its apiVersion.
        """
        environment = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": self.exec_info()}
        try:
            process = subprocess.Popen(
                [self.command, *self.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environment,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # a process group of its own, to be killed whole
            )
        except OSError as error:
            hint = f" ({_one_line(self.install_hint)})" if self.install_hint else ""
            raise self.failure(f"cannot be run: {error.strerror or error}{hint}") from None
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise self.failure(f"no answer within {timeout:g} s (stopped)") from None
        except BaseException:
            _stop(process)
            raise
        if process.returncode != 0:
            said = _one_line(stderr)
            reason = f"process returned {process.returncode}" + (f". {said}" if said else "")
            raise self.failure(reason)
        return self._status(stdout)

    def _status(self, output: str) -> dict[str, Any]:
        try:
            answer = json.loads(output)
        except ValueError as error:
            raise self.failure(f"failed to decode process output: {error}") from None
        for key in ("apiVersion", "kind", "status"):
            if not isinstance(answer, dict) or key not in answer:
                raise self.failure(f"malformed response. missing key {key!r}")
        if answer["apiVersion"] != self.api_version:
            raise self.failure(
                f"plugin api version {answer['apiVersion']} does not match {self.api_version}"
            )
        status = answer["status"]
        if not isinstance(status, dict):
            raise self.failure("malformed response. status is not an object")
        return status


def _named(entries: Any, name: object) -> dict[str, Any] | None:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


@dataclass(frozen=True)
class ExecUser:
    """The current context's user, when its credential is an exec plugin: where it is in the
    kubeconfig document, and the plugin."""

    name: str
    plugin: ExecPlugin


def exec_user(document: Mapping[str, Any]) -> ExecUser | None:
    """The current context's user if the kubernetes client would run its exec plugin: it has
    one, and no token, token file or auth provider that the client would use first.

    Raises:
        ExecPluginError: If that user's ``exec`` section is malformed.
    """
    context = _named(document.get("contexts"), document.get("current-context")) or {}
    body = context.get("context") or {}
    user_entry = _named(document.get("users"), body.get("user")) or {}
    user = user_entry.get("user") or {}
    if not isinstance(user.get("exec"), dict) or any(
        user.get(key) for key in ("token", "tokenFile", "auth-provider")
    ):
        return None
    cluster = (_named(document.get("clusters"), body.get("cluster")) or {}).get("cluster") or {}
    return ExecUser(user_entry["name"], ExecPlugin.from_config(user["exec"], cluster))


def without_exec(
    document: Mapping[str, Any], user: str, certificate: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The document with ``user``'s exec section taken out (the kubernetes client loads it
    without running the plugin again), and the client certificate a run gave, if any."""
    users = []
    for entry in document.get("users") or []:
        if isinstance(entry, dict) and entry.get("name") == user:
            body = {key: value for key, value in (entry.get("user") or {}).items() if key != "exec"}
            if certificate is not None:
                body.update(certificate)
            entry = {**entry, "user": body}
        users.append(entry)
    return {**document, "users": users}
