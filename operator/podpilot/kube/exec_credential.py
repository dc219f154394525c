"""The bearer token of a kubeconfig's exec credential plugin, shared by every thread that
calls the API: the plugin runs once per token, never twice at once, and never without a limit.

The kubernetes client's own hook runs the plugin without a time limit in whichever thread
finds the token expired, one run per such thread; pykube runs it on every request. Here the
token is kept until a little before its ``expirationTimestamp`` (a token without one, until
the API server refuses it with 401). One run at a time, in a thread of its own: a caller
with no valid token waits for it, at most the plugin's time limit; while the old token is
still valid, callers go on with it and the run refreshes it behind them. A run that fails
while the old token is still valid keeps the old one and is tried again a little later.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from podpilot.apimachinery.timestamps import parse_time
from podpilot.kube.exec_plugin import EXEC_PLUGIN_TIMEOUT, ExecPlugin, ExecPluginError

REFRESH_BEFORE_EXPIRY = 60.0
"""Seconds before its expiry a token is refreshed (at most half its remaining life): room for
the run, and for a clock a little behind the API server's."""
RETRY_AFTER_FAILED_REFRESH = 10.0
"""Seconds before a failed refresh is tried again, while the old token is still valid."""

logger = logging.getLogger(__name__)


def _expiry(status: Mapping[str, Any], plugin: ExecPlugin) -> float:
    """``status.expirationTimestamp`` as seconds since the epoch (inf when there is none)."""
    stamp = status.get("expirationTimestamp")
    if not stamp:
        return math.inf
    try:
        expiry = parse_time(str(stamp))
    except ValueError:
        raise plugin.failure(f"expirationTimestamp {stamp!r} is not an RFC 3339 time") from None
    return math.inf if expiry is None else expiry


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float
    refresh_at: float


class _Run:
    """One run of the plugin, and its outcome for the callers waiting for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.token: str | None = None
        self.error: ExecPluginError | None = None

    def outcome(self, timeout: float, plugin: ExecPlugin) -> str:
        if not self.done.wait(timeout):
            raise plugin.failure(f"no answer within {timeout:g} s")
        if self.error is not None:
            # A fresh exception for each caller: they raise it in threads of their own.
            raise ExecPluginError(*self.error.args)
        assert self.token is not None
        return self.token


class ExecCredential:
    """The plugin's current token, from the ``status`` of a first run (made by whoever chose
    this credential) on. Safe to call from many threads.

    Raises (from ``__init__``):
        ExecPluginError: If the status holds no token or an unreadable expiry.
    """

    def __init__(
        self,
        plugin: ExecPlugin,
        first: Mapping[str, Any],
        timeout: float = EXEC_PLUGIN_TIMEOUT,
        clock: Callable[[], float] = time.time,  # the expiry is a wall-clock time
    ) -> None:
        self.plugin = plugin
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = self._token_of(first)
        self._run: _Run | None = None

    def _token_of(self, status: Mapping[str, Any]) -> _Token:
        value = status.get("token")
        if not value or not isinstance(value, str):
            raise self.plugin.failure("missing token field in plugin output")
        expires_at = _expiry(status, self.plugin)
        margin = min(REFRESH_BEFORE_EXPIRY, max(0.0, expires_at - self._clock()) / 2)
        return _Token(value, expires_at, expires_at - margin)

    def current(self) -> str:
        """The token to send now.

        Raises:
            ExecPluginError: If there is no valid token and the run that would give one failed
                or did not end within the plugin's time limit.
        """
        with self._lock:
            now = self._clock()
            token = self._token
            if token is not None and now < token.refresh_at:
                return token.value
            valid = token is not None and now < token.expires_at
            try:
                run = self._run or self._start_run()
            except ExecPluginError:
                if token is not None and valid:
                    return token.value  # the next caller tries to start a run again
                raise
            if token is not None and valid:
                return token.value
        return run.outcome(self.timeout, self.plugin)

    def authorization(self) -> str:
        """The ``Authorization`` header's value."""
        return f"Bearer {self.current()}"

    def unauthorized(self, authorization: str | None) -> None:
        """The API server refused ``authorization`` (401): forget that token, so the next
        caller runs the plugin. A refusal of an older token keeps the current one."""
        with self._lock:
            if self._token is not None and authorization in (None, f"Bearer {self._token.value}"):
                self._token = None

    def _start_run(self) -> _Run:
        """A run in its own thread, kept as the pending one only once the thread has started:
        a run that never began would leave every later caller waiting for it in vain."""
        run = _Run()
        try:
            threading.Thread(
                target=self._refresh, args=(run,), name="podpilot-exec-credential", daemon=True
            ).start()
        except RuntimeError as error:  # no thread can start now (a process or memory limit)
            raise self.plugin.failure(f"could not be started: {error}") from None
        self._run = run
        return run

    def _refresh(self, run: _Run) -> None:
        token: _Token | None = None
        try:
            token = self._token_of(self.plugin.run(self.timeout))
        except Exception as error:  # every run must end, or its waiters would all time out
            run.error = (
                error if isinstance(error, ExecPluginError) else self.plugin.failure(str(error))
            )
        keeping = False
        with self._lock:
            self._run = None
            kept = self._token
            if token is not None:
                self._token = token
            elif kept is not None and self._clock() < kept.expires_at:
                retry_at = self._clock() + RETRY_AFTER_FAILED_REFRESH
                self._token = replace(kept, refresh_at=retry_at)
                keeping = True
        if keeping:
            logger.warning("%s; the current token is used until it expires", run.error)
        run.token = token.value if token is not None else None
        run.done.set()
