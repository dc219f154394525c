"""The whole-exchange deadline against servers on 127.0.0.1, where it meets a shared pool: a
connection handed back to the pool is no longer watched, so the deadline of the exchange that
used it first never cuts the request of the thread that takes it next; and an exchange whose
deadline cannot be kept fails at once instead of running unbounded."""

from __future__ import annotations

import threading
import time

import pytest
import urllib3
from tests.local_http import serving
from tests.unit.autoscaler.sources.trickling_server import Trickler, http_answer, trickling

from podpilot.kube import http_deadline
from podpilot.kube.http_deadline import guard_pools, guarded, within


def guarded_pool() -> urllib3.PoolManager:
    pool = urllib3.PoolManager(maxsize=1, retries=False, timeout=5.0)
    guard_pools(pool)
    assert guarded(pool)
    return pool


def test_a_connection_back_in_the_pool_is_not_cut_by_the_deadline_of_its_first_use() -> None:
    # Each connection's first answer comes whole, the next one a byte every 10 ms (about 1 s).
    answer = http_answer(b'{"ok": true}', padding=0)
    pool = guarded_pool()
    second: list[bytes] = []
    with trickling(Trickler(answer, interval=0.01, whole_first=1)) as server:
        first_done = threading.Event()

        def first_use() -> None:
            with pytest.raises(TimeoutError), within(0.3):
                pool.request("GET", server.url + "/first")  # whole, released to the pool
                first_done.set()
                time.sleep(0.6)  # the block is still open when its deadline passes

        def next_use() -> None:
            first_done.wait(5)
            second.append(pool.request("GET", server.url + "/second").data)  # no deadline

        threads = [threading.Thread(target=first_use), threading.Thread(target=next_use)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert server.connections == 1  # the second request came on the pooled connection
    assert second == [b'{"ok": true}']


def test_an_exchange_whose_deadline_cannot_be_kept_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(timer: threading.Timer) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(http_deadline.threading.Timer, "start", no_thread)
    seen: list[str | None] = []
    with serving({"/": (200, b"{}")}, seen=seen) as url:
        pool = guarded_pool()
        with pytest.raises(OSError, match="no deadline could be kept"), within(1.0):
            pool.request("GET", url + "/")
    assert seen == []  # nothing was sent
