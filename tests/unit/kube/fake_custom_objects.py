"""A fake ``CustomObjectsApi`` and ``ApiClients`` that record the exact calls made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podpilot.kube.clients import Timeouts

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

    def __init__(self, kubernetes: Any = None) -> None:
        """``kubernetes``: the official client, for requests sent without a generated method."""
        self.pools: list[str] = []
        self.timeouts = Timeouts()
        self.kubernetes = kubernetes

    async def call(self, function: Callable[..., Any], /, *args: object, **kwargs: object) -> Any:
        self.pools.append("call")
        return function(*args, **kwargs)

    async def write_status(
        self, function: Callable[..., Any], /, *args: object, **kwargs: object
    ) -> Any:
        self.pools.append("write_status")
        return function(*args, **kwargs)
