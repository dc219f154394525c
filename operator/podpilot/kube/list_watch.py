"""A list-and-watch that keeps only a small converted copy of each object.

kopf watches a resource by parsing every object whole, keeping a record per object and
queueing every listed body to a task of its own; for the Autoscaler's 6,000 pods and 2,000
Deployments that start-up burst left most of the operator's memory behind (CPython keeps the
arenas a burst filled). Here the list is read in pages, each object is converted as soon as
it is parsed, and only the converted value is handed on.

One thread per watch runs the blocking ``kubernetes`` client call: LIST in pages, then WATCH
from the list's resourceVersion (bookmarks on), again from the last version seen when a watch
ends, and a new LIST when the apiserver answers 410 Gone or after ``RELIST_AFTER_FAILURES``
failed attempts in a row (a version the apiserver keeps refusing for another reason, or a
watch cache that stopped answering, must not be retried forever, as client-go's reflector
also lists again after a failed watch). Failed attempts are paced by an exponential backoff.
Converted values reach the sink on the event loop, in the order they were seen, so the sink
needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Generic, Protocol, TypeVar

from podpilot.apimachinery.backoff import exponential_delay
from podpilot.kube.clients import CONNECT_TIMEOUT

V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)

ObjectKey = tuple[str, str]  # namespace, name

PAGE_SIZE: Final = 500
WATCH_SECONDS: Final = 300
RETRY_BASE_SECONDS: Final = 0.5
"""The watch's ``timeoutSeconds``: the apiserver ends it after this long, and it is resumed."""
WATCH_READ_SECONDS: Final = WATCH_SECONDS + 30
"""The client's read timeout of a watch, a little longer than the server's end of it (and its
bookmarks, about one a minute): a watch whose apiserver went silent fails and is resumed
instead of waiting forever. TCP keep-alive (``clients.py``) notices a vanished peer sooner."""
LIST_READ_SECONDS: Final = 60
"""The read timeout of one page of 500 objects: as kube-apiserver's own request timeout."""
CONNECT_SECONDS: Final = CONNECT_TIMEOUT
MAX_RETRY_SECONDS: Final = 30.0
RELIST_AFTER_FAILURES: Final = 3

logger = logging.getLogger("podpilot.watch")


class Sink(Protocol[V_contra]):
    """Where a watch delivers its converted objects; called on the event loop only."""

    def put(self, key: ObjectKey, value: V_contra) -> None: ...

    def remove(self, key: ObjectKey) -> None: ...


class ResourceExpiredError(Exception):
    """The resourceVersion (or continue token) is too old: list again."""


class _Removed:
    pass


REMOVED: Final = _Removed()


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def stream_lines(response: Any) -> Iterator[bytes]:
    """The lines of a streamed (chunked) HTTP answer, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


@dataclass(frozen=True)
class NextAttempt:
    """What to do after a failed attempt: wait ``delay`` seconds, then list again (``relist``)
    or watch again from the last resourceVersion seen."""

    relist: bool
    delay: float


def after_failure(
    failures: int,
    since_progress: int,
    relist_after: int = RELIST_AFTER_FAILURES,
    base: float = RETRY_BASE_SECONDS,
    cap: float = MAX_RETRY_SECONDS,
) -> NextAttempt:
    """The next attempt after ``failures`` failed attempts in a row (``failures >= 1``), of
    which ``since_progress`` came after the last complete LIST or normally ended watch.

    The backoff counts every failure until a watch ends normally, so a LIST that succeeds
    while every watch fails does not start the backoff over (LISTs are the expensive call).
    """
    return NextAttempt(since_progress >= relist_after, exponential_delay(failures, base, cap))


class ListWatch(Generic[V]):
    """Keep ``sink`` current with ``convert(object)`` of every object ``list_call`` returns.

    ``list_call`` is a ``kubernetes`` client list method (for all namespaces, or with its
    namespace bound); it is called with ``_preload_content=False`` so that no typed model is
    built.
    """

    def __init__(
        self,
        name: str,
        list_call: Callable[..., Any],
        convert: Callable[[Mapping[str, Any]], V],
        sink: Sink[V],
        relist_after: int = RELIST_AFTER_FAILURES,
        retry_base: float = RETRY_BASE_SECONDS,
    ) -> None:
        self.name = name
        self._relist_after = relist_after
        self._retry_base = retry_base
        self.lists = 0  # complete LISTs made (the first one and every relist)
        self._list_call = list_call
        self._convert = convert
        self._sink = sink
        self._in_sink: set[ObjectKey] = set()  # put and not removed since; watch thread only
        self._synced = asyncio.Event()
        self._stopping = threading.Event()
        self._response: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    async def synced(self) -> None:
        """Return once the first complete list has reached the sink."""
        await self._synced.wait()

    def stop(self) -> None:
        """Ask the watch thread to end (it is a daemon thread: exit does not wait for it)."""
        self._stopping.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                response.shutdown()  # unblocks the watch thread's read

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        resource_version: str | None = None
        failures = 0  # attempts failed in a row: paces the backoff
        since_progress = 0  # failed attempts since the last LIST or normally ended watch
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                    since_progress = 0
                resource_version = self._watch(resource_version)
                failures = since_progress = 0
            except ResourceExpiredError:
                resource_version = None
            except Exception as error:  # every failure is retried
                if self._stopping.is_set():
                    break
                failures += 1
                since_progress += 1
                attempt = after_failure(
                    failures, since_progress, self._relist_after, self._retry_base
                )
                if attempt.relist:
                    resource_version = None
                again = "list again" if attempt.relist else "watch again"
                logger.warning(
                    "watch of %s failed %d times in a row (%s); %s in %.1fs",
                    self.name,
                    failures,
                    error,
                    again,
                    attempt.delay,
                )
                self._stopping.wait(attempt.delay)

    def _deliver(self, changes: list[tuple[ObjectKey, V | _Removed]], synced: bool = False) -> None:
        assert self._loop is not None
        self._track(changes)
        self._loop.call_soon_threadsafe(self._apply, changes, synced)

    def _track(self, changes: list[tuple[ObjectKey, V | _Removed]]) -> None:
        for key, value in changes:
            if isinstance(value, _Removed):
                self._in_sink.discard(key)
            else:
                self._in_sink.add(key)

    def _apply(self, changes: list[tuple[ObjectKey, V | _Removed]], synced: bool) -> None:
        for key, value in changes:
            if isinstance(value, _Removed):
                self._sink.remove(key)
            else:
                self._sink.put(key, value)
        if synced:
            self._synced.set()

    def _converted(self, key: ObjectKey, obj: Mapping[str, Any]) -> V | _Removed:
        """The object's converted value; one that cannot be converted is left out (and
        logged), as a kopf index leaves out an object whose index function fails."""
        try:
            return self._convert(obj)
        except Exception:
            logger.exception("%s %s/%s left out: it could not be converted", self.name, *key)
            return REMOVED

    def _request(self, **params: Any) -> Any:
        try:
            return self._list_call(_preload_content=False, **params)
        except Exception as error:
            if getattr(error, "status", None) == 410:
                raise ResourceExpiredError from error
            raise

    def _list(self) -> str:
        """LIST in pages; deliver each page converted, then remove from the sink whatever
        it holds that the list lacks, as client-go's DeltaFIFO.Replace does: that includes
        what the pages of an earlier, unfinished LIST delivered."""
        listed: set[ObjectKey] = set()
        token: str | None = None
        while True:
            response = self._request(
                limit=PAGE_SIZE,
                _continue=token,
                _request_timeout=(CONNECT_SECONDS, LIST_READ_SECONDS),
            )
            try:
                page = json.loads(response.data)
            finally:
                response.release_conn()
            metadata: Mapping[str, Any] = page.get("metadata") or {}
            items: Iterable[Mapping[str, Any]] = page.get("items") or []
            changes: list[tuple[ObjectKey, V | _Removed]] = []
            for item in items:
                key = object_key(item)
                listed.add(key)
                changes.append((key, self._converted(key, item)))
            del page, items  # this page's bodies are freed before the next one is read
            self._deliver(changes)
            token = metadata.get("continue") or None
            if token is None:
                vanished = self._in_sink - listed
                self._deliver([(key, REMOVED) for key in vanished], synced=True)
                self.lists += 1
                return str(metadata.get("resourceVersion") or "")

    def _watch(self, resource_version: str) -> str:
        """WATCH from ``resource_version`` until the server ends it; the last version seen."""
        response = self._request(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=(CONNECT_SECONDS, WATCH_READ_SECONDS),
        )
        self._response = response
        try:
            for line in stream_lines(response):
                if self._stopping.is_set():
                    break
                if line:
                    resource_version = self._handle(json.loads(line), resource_version)
        finally:
            self._response = None
            response.release_conn()
        return resource_version

    def _handle(self, event: Mapping[str, Any], resource_version: str) -> str:
        kind = event.get("type")
        obj: Mapping[str, Any] = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise ResourceExpiredError
            raise RuntimeError(f"watch error: {obj.get('message') or obj}")
        metadata: Mapping[str, Any] = obj.get("metadata") or {}
        resource_version = str(metadata.get("resourceVersion") or resource_version)
        if kind == "BOOKMARK":
            return resource_version
        key = object_key(obj)
        if kind == "DELETED":
            if key in self._in_sink:
                self._deliver([(key, REMOVED)])
        else:
            self._deliver([(key, self._converted(key, obj))])
        return resource_version


@dataclass(frozen=True)
class Consumer(Generic[V]):
    """One consumer of a shared watch: ``convert`` keeps what it needs of an object (None: the
    object is not kept), and ``sink`` receives it."""

    name: str
    convert: Callable[[Mapping[str, Any]], V | None]
    sink: Sink[V]


class Fanout:
    """One watch's objects handed to several consumers, each converted its own way: a
    ``ListWatch`` sink (with ``convert`` as its conversion) whose values are one per consumer.

    A conversion or a sink that fails concerns its own consumer only: the object is left out
    of that consumer's sink and logged, and the others (and the watch's first-list mark, which
    all of them wait for) go on."""

    def __init__(self) -> None:
        self.consumers: list[Consumer[Any]] = []

    def convert(self, obj: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(self._converted(consumer, obj) for consumer in self.consumers)

    def put(self, key: ObjectKey, value: tuple[Any, ...]) -> None:
        for consumer, converted in zip(self.consumers, value, strict=True):
            if converted is None:
                self._remove(consumer, key)
            else:
                try:
                    consumer.sink.put(key, converted)
                except Exception:
                    logger.exception(
                        "%s/%s left out by %s: it could not be kept", *key, consumer.name
                    )
                    self._remove(consumer, key)

    def remove(self, key: ObjectKey) -> None:
        for consumer in self.consumers:
            self._remove(consumer, key)

    @staticmethod
    def _remove(consumer: Consumer[Any], key: ObjectKey) -> None:
        try:
            consumer.sink.remove(key)
        except Exception:
            logger.exception("%s/%s not removed by %s", *key, consumer.name)

    @staticmethod
    def _converted(consumer: Consumer[Any], obj: Mapping[str, Any]) -> Any:
        try:
            return consumer.convert(obj)
        except Exception:
            logger.exception(
                "%s/%s left out by %s: it could not be converted", *object_key(obj), consumer.name
            )
            return None


def scoped_calls(
    namespaces: Sequence[str],
    resource: str,
    all_namespaces: Callable[..., Any],
    one: Callable[..., Any],
) -> list[tuple[str, Callable[..., Any]]]:
    """A watch's name and list call for the whole cluster, or one for each namespace."""
    if not namespaces:
        return [(resource, all_namespaces)]
    return [(f"{resource} in {ns}", partial(one, ns)) for ns in namespaces]
