"""Which keys appeared, changed level or cleared between two observations."""

from enum import IntEnum

from podpilot.apimachinery.transitions import level_changes


class Level(IntEnum):
    LOW = 1
    HIGH = 2


def test_nothing_known_yet_means_everything_appeared() -> None:
    changes = level_changes({}, {"a": Level.LOW, "b": Level.HIGH})
    assert changes.appeared == ("a", "b")
    assert changes.raised == ("a", "b")
    assert (changes.changed, changes.cleared) == ((), ())


def test_same_levels_are_no_change() -> None:
    levels = {("x", None): "warning", ("y", "node-a"): "critical"}
    changes = level_changes(levels, dict(levels))
    assert (changes.appeared, changes.changed, changes.cleared, changes.raised) == ((),) * 4


def test_a_new_level_is_a_change_and_a_missing_key_cleared() -> None:
    changes = level_changes(
        {"a": Level.LOW, "b": Level.HIGH, "c": Level.LOW},
        {"c": Level.HIGH, "d": Level.LOW, "a": Level.LOW},
    )
    assert changes.appeared == ("d",)
    assert changes.changed == ("c",)
    assert changes.cleared == ("b",)
    assert changes.raised == ("c", "d")  # the current mapping's order


def test_a_lower_level_is_a_change_too() -> None:
    assert level_changes({"a": Level.HIGH}, {"a": Level.LOW}).changed == ("a",)


def test_everything_gone_clears_in_the_previous_order() -> None:
    changes = level_changes({"b": 1, "a": 2}, {})
    assert changes.cleared == ("b", "a")
    assert changes.raised == ()
