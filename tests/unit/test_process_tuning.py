"""The operator's garbage-collector and allocator settings."""

from __future__ import annotations

import gc
import platform
from collections.abc import Iterator

import pytest

from podpilot.app.process_tuning import GC_YOUNG_THRESHOLD, limit_malloc_arenas, tune_process


@pytest.fixture
def restored_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_young_generation_grows_and_the_older_ones_keep_their_thresholds(
    restored_thresholds: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")  # leave this process's allocator alone
    tune_process()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *restored_thresholds[1:])


def test_the_arenas_are_capped_on_glibc_unless_the_environment_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas(8) is (platform.libc_ver()[0] == "glibc")
