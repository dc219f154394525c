from __future__ import annotations

import time

import pytest

from podpilot.emptydir.engine.name_pattern import NamePattern, name_pattern


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("^(tmp|scratch-.*)$", "tmp", True),
        ("^(tmp|scratch-.*)$", "scratch-1", True),
        ("^(tmp|scratch-.*)$", "cache", False),
        ("tmp", "tmp-extra", False),  # a full match, not a search
        ("scratch-.*", "my-scratch-1", False),
    ],
)
def test_a_pattern_must_match_the_whole_name(pattern: str, name: str, matches: bool) -> None:
    assert NamePattern(pattern).matches(name) is matches


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y", "("])
def test_constructs_outside_re2_are_refused_with_the_reason(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"not an RE2 pattern: .+"):
        NamePattern(pattern)


def test_a_catastrophic_pattern_for_backtracking_matches_in_linear_time() -> None:
    # Python's re needs about 2**40 steps for this; RE2 needs one pass. The bound only separates
    # the two (it is not a speed target).
    started = time.perf_counter()
    assert not NamePattern("(a+)+$").matches("a" * 40 + "!")
    assert not NamePattern("(x+x+)+y").matches("x" * 5_000)
    assert time.perf_counter() - started < 5.0


def test_each_pattern_text_is_compiled_once() -> None:
    assert name_pattern("^tmp$") is name_pattern("^tmp$")
