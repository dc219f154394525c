"""The scale-to-zero activation gate and the fallback's start and end Events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podpilot.autoscaler.policy.activation import Activity, MetricActivity, activity_of, gate
from podpilot.autoscaler.policy.fallback import fallback_transitions

NOW = 10_000.0


def test_activity_needs_a_value_above_the_threshold() -> None:
    assert activity_of([MetricActivity(1000, 1000)]) is Activity.INACTIVE
    assert activity_of([MetricActivity(1001, 1000)]) is Activity.ACTIVE
    assert activity_of([MetricActivity(None), MetricActivity(0)]) is Activity.UNKNOWN
    assert activity_of([MetricActivity(None), MetricActivity(5)]) is Activity.ACTIVE


def test_zero_wakes_to_at_least_one_when_a_metric_crosses_the_threshold() -> None:
    woken = gate(
        current=0,
        engine_desired=0,
        metrics=[MetricActivity(2000, 1000)],
        last_active=None,
        now=NOW,
        cooldown=300,
    )
    assert (woken.desired, woken.changed, woken.last_active) == (1, True, NOW)
    more = gate(
        current=0,
        engine_desired=4,
        metrics=[MetricActivity(2000, 1000)],
        last_active=None,
        now=NOW,
        cooldown=300,
    )
    assert (more.desired, more.changed) == (4, False)


def test_activation_wins_over_the_target_at_zero() -> None:
    # The engine's from-zero math proposes 3, but the value is not above the threshold.
    stay = gate(
        current=0,
        engine_desired=3,
        metrics=[MetricActivity(900, 1000)],
        last_active=None,
        now=NOW,
        cooldown=300,
    )
    assert (stay.desired, stay.activity) == (0, Activity.INACTIVE)


def test_to_zero_only_after_the_cooldown_and_once_the_engine_is_down_to_one() -> None:
    quiet = [MetricActivity(0, 0)]
    waiting = gate(
        current=1, engine_desired=0, metrics=quiet, last_active=NOW - 299, now=NOW, cooldown=300
    )
    assert waiting.desired == 1
    done = gate(
        current=1, engine_desired=0, metrics=quiet, last_active=NOW - 300, now=NOW, cooldown=300
    )
    assert (done.desired, done.last_active) == (0, NOW - 300)
    still_busy = gate(
        current=5, engine_desired=3, metrics=quiet, last_active=NOW - 900, now=NOW, cooldown=300
    )
    assert still_busy.desired == 3


def test_to_zero_only_when_the_scale_down_policies_allow_the_step() -> None:
    quiet = [MetricActivity(0, 0)]

    def idle_for_long(current: int, floor: int) -> int:
        return gate(
            current=current, engine_desired=1, metrics=quiet, last_active=NOW - 900, now=NOW,
            cooldown=300, policy_floor=floor,
        ).desired  # fmt: skip

    assert idle_for_long(2, floor=1) == 1  # one pod a period: 2 -> 1, never 2 -> 0
    assert idle_for_long(1, floor=1) == 1  # the period of that step is not over
    assert idle_for_long(1, floor=0) == 0
    assert idle_for_long(2, floor=-3) == 0  # a percent policy may go below zero


def test_a_never_active_autoscaler_starts_its_cooldown_now() -> None:
    first = gate(
        current=2, engine_desired=0, metrics=[MetricActivity(0)], last_active=None, now=NOW,
        cooldown=60,
    )  # fmt: skip
    assert (first.desired, first.last_active) == (1, NOW)


@given(
    current=st.integers(0, 20),
    engine=st.integers(0, 20),
    values=st.lists(st.one_of(st.none(), st.integers(0, 5000)), min_size=1, max_size=4),
    idle=st.floats(0, 10_000),
)
def test_errors_never_move_through_zero(
    current: int, engine: int, values: list[int | None], idle: float
) -> None:
    metrics = [MetricActivity(value, 1000) for value in values]
    result = gate(
        current=current,
        engine_desired=engine,
        metrics=metrics,
        last_active=NOW - idle,
        now=NOW,
        cooldown=0,
    )
    if any(value is None for value in values) and result.activity is Activity.UNKNOWN:
        assert (result.desired == 0) == (current == 0)
    if current > 0 and result.desired == 0:
        assert result.activity is Activity.INACTIVE
    if current == 0 and result.desired > 0:
        assert result.activity is Activity.ACTIVE


@pytest.mark.parametrize(
    ("was_active", "active", "before", "failures", "desired", "expected"),
    [
        (False, False, 1, 2, 4, []),  # failing, but not for long enough yet
        (False, True, 2, 3, 4, ["FallbackActivated"]),
        (False, True, 2, 3, 2, ["FallbackActivated"]),
        (True, True, 3, 4, 4, []),  # still in effect: no new Event
        (True, False, 4, 0, 4, ["FallbackDeactivated"]),
        (False, False, 2, 0, 4, []),  # metrics back before the fallback applied
    ],
)
def test_fallback_events_mark_its_start_and_end(
    was_active: bool, active: bool, before: int, failures: int, desired: int, expected: list[str]
) -> None:
    events = fallback_transitions(
        was_active=was_active,
        active=active,
        failures_before=before,
        failures=failures,
        current=4,
        desired=desired,
    )
    assert [event.reason for event in events] == expected
    if expected == ["FallbackActivated"]:
        what = "holding 4 replicas" if desired == 4 else "scaling to 2 replicas"
        assert what in events[0].message
