"""A fake ``CustomObjectsApi`` and ``ApiClients`` that record the exact calls made."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from podpilot.kube.clients import Timeouts
from podpilot.kube.encoded_request import EncodedRequest

Call = tuple[str, tuple[object, ...], dict[str, object]]


class FakeCustomObjectsApi:
    """Records every call by method name; answers with ``answer`` (or ``answers[method]``),
    or raises ``fail`` (or ``failures[method]``)."""

    def __init__(
        self,
        answer: object = None,
        fail: BaseException | None = None,
        *,
        answers: dict[str, object] | None = None,
        failures: dict[str, BaseException] | None = None,
    ) -> None:
        self.answer = answer
        self.fail = fail
        self.answers = answers or {}
        self.failures = failures or {}
        self.calls: list[Call] = []

    def __getattr__(self, method: str) -> Callable[..., object]:
        def record(*args: object, **kwargs: object) -> object:
            self.calls.append((method, args, kwargs))
            failure = self.failures.get(method, self.fail)
            if failure is not None:
                raise failure
            return self.answers.get(method, self.answer)

        return record


class FakeClients:
    """Runs calls inline, noting which pool each would have used."""

    def __init__(
        self, kubernetes: Any = None, recording: FakeCustomObjectsApi | None = None
    ) -> None:
        """``kubernetes``: the official client, for requests sent without a generated method;
        or ``recording``: where such requests are noted instead of sent, among the calls of
        the generated methods, as ``(method, (path, decoded body), query)``."""
        self.pools: list[str] = []
        self.timeouts = Timeouts()
        self.kubernetes = kubernetes
        self.recording = recording

    async def call(self, function: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        self.pools.append("call")
        return self._run(function, *args, **kwargs)

    async def write_status(
        self, function: Callable[..., Any], /, *args: object, **kwargs: object
    ) -> Any:
        self.pools.append("write_status")
        return self._run(function, *args, **kwargs)

    def _run(self, function: Callable[..., Any], *args: object, **kwargs: object) -> Any:
        """``function(*args)`` inline; while recording, an ``EncodedRequest``'s ``send`` (the
        function itself, or the last argument, as ``send_if_allowed`` gets it) is noted."""
        if self.recording is not None:
            request = getattr(function, "__self__", None)
            if isinstance(request, EncodedRequest):
                return self._note(request)
            request = getattr(args[-1], "__self__", None) if args else None
            if isinstance(request, EncodedRequest):
                return function(*args[:-1], partial(self._note, request), **kwargs)
        return function(*args, **kwargs)

    def _note(self, request: EncodedRequest) -> None:
        """Note ``request`` as its method (or raise ``failures[method]``, as for any call)."""
        assert self.recording is not None
        noted = (request.method, (request.path, json.loads(request.body)), dict(request.query))
        self.recording.calls.append(noted)
        failure = self.recording.failures.get(request.method)
        if failure is not None:
            raise failure
