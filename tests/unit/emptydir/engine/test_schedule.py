"""Per-node poll schedule: new nodes due at once, jitter, exponential backoff with a cap."""

from podpilot.emptydir.engine.schedule import JITTER, MAX_BACKOFF_SECONDS, PollSchedule


def no_jitter(low: float, high: float) -> float:
    return 0.0


def test_new_nodes_are_due_now_and_gone_nodes_are_forgotten() -> None:
    schedule = PollSchedule(uniform=no_jitter)
    schedule.sync(["a", "b"], now=100.0)
    assert schedule.due(100.0) == ["a", "b"]
    schedule.failed("b", 100.0, 10.0)
    schedule.sync(["a"], now=101.0)
    assert set(schedule.due_at) == {"a"}
    assert "b" not in schedule.failures


def test_success_waits_one_interval() -> None:
    schedule = PollSchedule(uniform=no_jitter)
    schedule.sync(["a"], 0.0)
    schedule.succeeded("a", 0.0, 60.0)
    assert schedule.due(59.9) == []
    assert schedule.due(60.0) == ["a"]


def test_failures_back_off_exponentially_up_to_the_cap_and_reset_on_success() -> None:
    schedule = PollSchedule(uniform=no_jitter)
    schedule.sync(["a"], 0.0)
    delays = [schedule.failed("a", 0.0, 10.0) for _ in range(8)]
    assert delays[:5] == [20.0, 40.0, 80.0, 160.0, 320.0]
    assert delays[5:] == [MAX_BACKOFF_SECONDS] * 3
    schedule.succeeded("a", 0.0, 10.0)
    assert "a" not in schedule.failures
    assert schedule.failed("a", 0.0, 10.0) == 20.0


def test_a_node_without_a_summary_endpoint_goes_straight_to_the_cap() -> None:
    schedule = PollSchedule(uniform=no_jitter)
    schedule.sync(["kwok"], 0.0)
    assert schedule.failed("kwok", 0.0, 5.0, hopeless=True) == MAX_BACKOFF_SECONDS


def test_jitter_stays_within_its_fraction() -> None:
    for extreme in (-JITTER, JITTER):

        def pick(low: float, high: float, chosen: float = extreme) -> float:
            return chosen

        schedule = PollSchedule(uniform=pick)
        schedule.sync(["a"], 0.0)
        schedule.succeeded("a", 0.0, 100.0)
        assert schedule.due_at["a"] == 100.0 * (1 + extreme)


def test_most_overdue_first() -> None:
    schedule = PollSchedule(uniform=no_jitter)
    schedule.sync(["a", "b"], 0.0)
    schedule.succeeded("a", 0.0, 5.0)
    schedule.succeeded("b", 0.0, 2.0)
    assert schedule.due(10.0) == ["b", "a"]
