"""What the replay cannot know: the recommendations and scale events of evaluations before
``--from``. It starts as the HPA starts when it first sees an autoscaler (its windows seeded
with the starting count), and says for how long that can matter."""

from __future__ import annotations

from typing import Any

import pytest

from podpilot.autoscaler.api.spec import parse_spec
from podpilot.autoscaler.backtest.replay import cold_start_seconds, replay
from podpilot.autoscaler.backtest.trace import PodSeries, ResourceKey, Trace
from podpilot.commands.backtest import cold_start_caveat
from podpilot.settings import HpaSettings

from .test_pending_pods import CPU_AT_60

START = 1_800_000_000.0
BASE = CPU_AT_60


@pytest.mark.parametrize(
    ("behavior", "settings", "seconds"),
    [
        pytest.param(None, HpaSettings(), 300.0, id="no behavior: the controller's window"),
        pytest.param(
            None, HpaSettings(downscale_stabilization=60.0), 60.0, id="the window as flagged"
        ),
        pytest.param(
            {"scaleDown": {"stabilizationWindowSeconds": 120}},
            HpaSettings(),
            120.0,
            id="the spec's scale-down window",
        ),
        pytest.param(
            {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}]}},
            HpaSettings(),
            600.0,
            id="a policy period longer than the windows",
        ),
        pytest.param(
            {"scaleUp": {"stabilizationWindowSeconds": 900}},
            HpaSettings(),
            900.0,
            id="a scale-up window",
        ),
    ],
)
def test_the_cold_start_is_the_longest_window_or_policy_period(
    behavior: dict[str, Any] | None, settings: HpaSettings, seconds: float
) -> None:
    spec = parse_spec({**BASE, **({"behavior": behavior} if behavior else {})})
    assert cold_start_seconds(spec, settings) == seconds


def test_the_text_heading_says_how_long_the_cold_start_may_matter() -> None:
    assert cold_start_caveat(300.0) == (
        "# cold start: no recommendation or scale event before --from is known; "
        "the first 5m0s may differ from a running Autoscaler\n"
    )
    assert cold_start_caveat(0.0) == ""


def test_a_scale_down_is_held_by_the_seeded_window_for_the_cold_start() -> None:
    """Four pods at 20 % of their request from the first step: the window holds only the
    starting count, as an HPA's does when it first sees the autoscaler, so the scale-down
    waits the whole window, whatever the recommendations before --from were."""
    times = tuple(START + 60 * index for index in range(10))
    pods = ("web-a", "web-b", "web-c", "web-d")
    series = PodSeries(
        tuple(dict.fromkeys(pods, 100) for _ in times),
        tuple(dict.fromkeys(pods, 500) for _ in times),
    )
    trace = Trace(times, (4,) * len(times), {ResourceKey("cpu"): series}, {})
    spec = parse_spec(BASE)

    replayed = replay(spec, trace)

    cold = cold_start_seconds(spec)
    held = [step.replicas for step in replayed.steps if step.time - START <= cold]
    assert set(held) == {4}
    assert replayed.replicas[-1] == 2
