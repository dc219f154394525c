"""The operator's garbage-collector and allocator settings."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from podpilot.app import process_tuning
from podpilot.app.process_tuning import (
    GC_YOUNG_THRESHOLD,
    glibc,
    limit_malloc_arenas,
    tune_process,
)


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``ctypes.CDLL(None)`` replaced by one whose mallopt records what it is called with."""
    calls: list[tuple[int, int]] = []

    class RecordingLibc:
        def __init__(self, _name: object = None) -> None:
            self.mallopt = self

        def __call__(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", RecordingLibc)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    return calls


@pytest.fixture
def restored_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_young_generation_grows_and_the_older_ones_keep_their_thresholds(
    restored_thresholds: tuple[int, int, int], libc: list[Any]
) -> None:
    tune_process()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *restored_thresholds[1:])
    assert libc == ([(process_tuning.M_ARENA_MAX, process_tuning.MALLOC_ARENAS)] if glibc() else [])


def test_glibcs_arenas_are_capped(libc: list[Any]) -> None:
    assert limit_malloc_arenas(2) is glibc()
    assert libc == ([(-8, 2)] if glibc() else [])  # M_ARENA_MAX in glibc's malloc.h


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MALLOC_ARENA_MAX", "4"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")],
)
def test_an_environment_that_chose_its_arenas_is_left_alone(
    libc: list[Any], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert limit_malloc_arenas(2) is False
    assert libc == []
