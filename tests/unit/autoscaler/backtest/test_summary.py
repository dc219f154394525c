"""The summary figures of a hand-made curve, worked out by hand."""

from __future__ import annotations

from podpilot.autoscaler.backtest.summary import scale_event_times, summarize

COUNTS = [2, 2, 3, 3, 5, 5, 4, 4, None, 4]
RATIOS = [[0.5], [1.2], [1.5], [0.9], [1.05], [0.7], [None], [0.6], [0.8], [1.0]]
LOADS = [[0.3], [0.72], [0.9], [0.54], [0.63], [0.42], [None], [0.36], [0.48], [0.6]]


def test_the_figures_of_a_hand_made_curve() -> None:
    figures = summarize(
        COUNTS, RATIOS, LOADS, durations=[30] * len(COUNTS), max_replicas=5, ceiling=0.6
    )

    # 2+2+3+3+5+5+4+4+4 replicas, each for half a minute
    assert figures.replica_minutes == 16.0
    # over 1: steps 1, 2, 4; unknown: the step without a ratio and the one without a count
    assert figures.seconds_over_target == 90
    assert figures.seconds_unknown == 60
    assert figures.seconds_under_target == 150
    # 2->3, 3->5, 5->4 (the unknown count is skipped: 4 then 4)
    assert figures.scale_events == 3
    assert figures.largest_step == 2
    assert figures.seconds_at_max == 60
    assert figures.peak_load == 0.9
    # above 0.6: 0.72, 0.9, 0.63 (0.6 itself is not above)
    assert figures.seconds_over_ceiling == 90
    assert figures.as_dict()["replicaMinutes"] == 16.0


def test_no_ceiling_and_no_change() -> None:
    figures = summarize([3, 3], [[0.5], [0.5]], [[0.2], [0.2]], durations=[60, 60], max_replicas=3)
    assert (figures.scale_events, figures.largest_step) == (0, 0)
    assert figures.seconds_over_ceiling is None
    assert "secondsOverCeiling" not in figures.as_dict()
    assert figures.seconds_at_max == 120


def test_scale_events_are_the_steps_that_run_a_new_count() -> None:
    times = [float(t) for t in range(0, 300, 30)]
    assert scale_event_times(COUNTS, times) == [60.0, 120.0, 180.0]
