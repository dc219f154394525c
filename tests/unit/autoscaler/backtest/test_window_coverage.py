"""The time figures cover exactly ``--from`` to ``--to``: each step's count holds until the
next step and the last one until ``--to``, so N steps a step apart stand for N - 1 steps of
time (plus what is left of the window past the last step), not N whole steps."""

from __future__ import annotations

import pytest

from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.backtest import summary
from podpilot.autoscaler.backtest.replay import replay
from podpilot.autoscaler.backtest.search import recommend
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace

START = 1_800_000_000.0
STEP = 60.0
STEPS = 40  # --from 11:58 --to 12:37 at 1m: 40 evaluations over 39 minutes
PODS = ("web-a", "web-b", "web-c", "web-d")
RAW_SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 4,
    "maxReplicas": 4,
    "metrics": [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ],
}
SPEC: AutoscalerSpec = parse_spec(RAW_SPEC)


def steady_trace(end: float | None = None) -> Trace:
    """Four pods at 75 % of their request (over the 60 % target) for the whole window."""
    times = tuple(START + index * STEP for index in range(STEPS))
    usage = tuple(dict.fromkeys(PODS, 375) for _ in times)
    requests = tuple(dict.fromkeys(PODS, 500) for _ in times)
    return Trace(
        times=times,
        replicas=(4,) * STEPS,
        resources={ResourceKey("cpu"): PodSeries(usage, requests)},
        queries={},
        end=end,
    )


def test_the_steps_last_until_the_next_one_and_the_last_until_the_end() -> None:
    on_the_grid = steady_trace()
    assert on_the_grid.durations() == (STEP,) * (STEPS - 1) + (0.0,)
    assert sum(on_the_grid.durations()) == on_the_grid.window_seconds == (STEPS - 1) * STEP

    between_two_steps = steady_trace(end=START + (STEPS - 1) * STEP + 20)
    assert between_two_steps.durations()[-1] == 20.0
    assert sum(between_two_steps.durations()) == (STEPS - 1) * STEP + 20


def test_a_window_that_ends_before_its_last_step_is_refused() -> None:
    with pytest.raises(ValueError, match="before its last step"):
        steady_trace(end=START)


@pytest.mark.parametrize("past_last_step", [0.0, 20.0])
def test_the_figures_add_up_to_the_window_not_one_step_more(past_last_step: float) -> None:
    end = START + (STEPS - 1) * STEP + past_last_step
    window = end - START
    replayed = replay(SPEC, steady_trace(end=end))

    for figures in (summary.simulated(replayed), summary.actual(replayed)):
        assert figures.replica_minutes == pytest.approx(4 * window / 60)
        assert figures.seconds_over_target == pytest.approx(window)  # 1.25 > 1.1 throughout
        total = figures.seconds_over_target + figures.seconds_under_target
        assert total + figures.seconds_unknown == pytest.approx(window)
        assert figures.seconds_at_max == pytest.approx(window)


def test_recommend_allows_a_share_of_the_window() -> None:
    end = START + (STEPS - 1) * STEP + 20
    found = recommend(RAW_SPEC, steady_trace(end=end), ceiling=0.9, allowed_over=0.25)
    assert found.allowed_seconds == pytest.approx(0.25 * (end - START))


def test_a_hand_made_curve_of_unequal_steps() -> None:
    figures = summary.summarize(
        [2, 4, 4], [[0.5], [1.5], [1.5]], [[0.3], [0.9], [0.9]], durations=[60, 60, 0],
        max_replicas=4, ceiling=0.8,
    )  # fmt: skip
    assert figures.replica_minutes == 6.0  # 2 for a minute, 4 for a minute, 4 at the end
    assert (figures.seconds_over_target, figures.seconds_under_target) == (60, 60)
    assert (figures.seconds_at_max, figures.seconds_over_ceiling) == (60, 60)
    assert figures.peak_load == 0.9
