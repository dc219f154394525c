"""The pure leader election: what a replica does, from the Lease it saw and its own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from podpilot.apimachinery.leader_election import (
    ElectionConfig,
    ElectionConfigError,
    ElectorState,
    LeaseRecord,
    Step,
    decide,
    desired_record,
    is_leader,
    lease_body,
    record_from_lease,
    released_record,
    term_of,
    wait_before_next,
)

CONFIG = ElectionConfig()  # 15 s lease, 10 s renew deadline, 2 s retry period
ME, OTHER = "podpilot-0_aaaa", "podpilot-1_bbbb"
WALL = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def held_by(holder: str, renewed: datetime = WALL, version: str = "7") -> LeaseRecord:
    return LeaseRecord(
        holder_identity=holder,
        lease_duration_seconds=15,
        acquire_time=renewed,
        renew_time=renewed,
        lease_transitions=3,
        resource_version=version,
    )


def seen(record: LeaseRecord | None, at: float) -> ElectorState:
    return ElectorState().observed(record, at)


def test_defaults_are_client_go_s() -> None:
    assert (CONFIG.lease_duration, CONFIG.renew_deadline, CONFIG.retry_period) == (15, 10, 2)
    connect, read = CONFIG.request_timeout()
    assert connect == 5.0 and read < CONFIG.renew_deadline


@pytest.mark.parametrize(
    ("lease", "renew", "retry"),
    [(10, 10, 2), (15, 2, 2), (15, 10, 0), (-1, 10, 2)],
)
def test_durations_that_cannot_work_are_refused(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ElectionConfigError):
        ElectionConfig(lease, renew, retry)


def test_no_lease_yet_means_create_it() -> None:
    assert decide(ElectorState(), ME, CONFIG, 100.0) is Step.CREATE
    assert decide(seen(None, 100.0), ME, CONFIG, 100.0) is Step.CREATE


def test_a_released_lease_is_acquired_at_once() -> None:
    free = held_by("")
    assert decide(seen(free, 100.0), ME, CONFIG, 100.0) is Step.ACQUIRE


def test_a_live_lease_of_another_replica_is_left_alone() -> None:
    state = seen(held_by(OTHER), 100.0)
    for now in (100.0, 105.0, 114.9):
        assert decide(state, ME, CONFIG, now) is Step.STAND_BY
    assert not is_leader(state, CONFIG, 114.9)


def test_every_change_of_the_record_restarts_the_standby_s_count() -> None:
    state = seen(held_by(OTHER, WALL, "7"), 100.0)
    # Renewed at 112 (seen then): 14.9 s after the first sighting, but only 2.9 s after the change.
    state = state.observed(held_by(OTHER, WALL + timedelta(seconds=2), "8"), 112.0)
    assert decide(state, ME, CONFIG, 114.9) is Step.STAND_BY
    assert decide(state, ME, CONFIG, 126.9) is Step.STAND_BY
    # Reading the same record again does not move the time it was first seen.
    state = state.observed(held_by(OTHER, WALL + timedelta(seconds=2), "8"), 120.0)
    assert decide(state, ME, CONFIG, 127.0) is Step.ACQUIRE


def test_takeover_after_a_lease_duration_without_change_on_the_standby_s_clock() -> None:
    state = seen(held_by(OTHER), 100.0)
    assert decide(state, ME, CONFIG, 114.99) is Step.STAND_BY
    assert decide(state, ME, CONFIG, 115.0) is Step.ACQUIRE


def test_the_holder_s_wall_clock_does_not_matter() -> None:
    """renewTime written by a holder whose clock is 30 s behind, or 30 s ahead, of ours: the
    standby waits exactly one lease duration from when it saw the record, either way."""
    for skew in (-30, 30, 86_400):
        record = held_by(OTHER, WALL + timedelta(seconds=skew))
        state = seen(record, 100.0)
        assert decide(state, ME, CONFIG, 114.0) is Step.STAND_BY
        assert decide(state, ME, CONFIG, 115.0) is Step.ACQUIRE


def test_the_duration_the_holder_wrote_wins() -> None:
    short = LeaseRecord(holder_identity=OTHER, lease_duration_seconds=1, resource_version="9")
    assert decide(seen(short, 100.0), ME, CONFIG, 100.5) is Step.STAND_BY
    assert decide(seen(short, 100.0), ME, CONFIG, 101.0) is Step.ACQUIRE
    unknown = LeaseRecord(holder_identity=OTHER, resource_version="9")
    assert decide(seen(unknown, 100.0), ME, CONFIG, 114.0) is Step.STAND_BY


def test_the_holder_renews_and_leads_until_the_renew_deadline() -> None:
    ours = held_by(ME)
    state = seen(None, 100.0).renewed(ours, sent_at=100.0, now=100.3)
    assert decide(state, ME, CONFIG, 102.0) is Step.RENEW
    assert is_leader(state, CONFIG, 109.99)
    renewed = state.renewed(held_by(ME, version="8"), sent_at=102.0, now=102.2)
    assert is_leader(renewed, CONFIG, 111.99)
    assert not is_leader(renewed, CONFIG, 112.0)


def test_a_holder_that_cannot_renew_fences_at_the_renew_deadline() -> None:
    """Renewals sent at 100 succeeded; every later one failed: leader until 110, then fence."""
    state = seen(None, 99.0).renewed(held_by(ME), sent_at=100.0, now=100.5)
    assert decide(state, ME, CONFIG, 109.9) is Step.RENEW
    assert decide(state, ME, CONFIG, 110.0) is Step.FENCE
    fenced = state.fenced()
    assert not is_leader(fenced, CONFIG, 110.0)
    # The record still names us: the next attempt renews it at its resourceVersion, which
    # fails with a conflict if a standby took it meanwhile.
    assert decide(fenced, ME, CONFIG, 110.0) is Step.RENEW


def test_the_holder_stops_before_any_standby_can_start() -> None:
    """The holder's last successful renewal is sent at 100 on its clock; a standby sees its
    result no earlier (say at 100 on its own clock, the earliest). The holder leads until 110;
    the standby acquires from 115: 5 s (a third of the lease) to spare for clock rates."""
    holder = seen(None, 90.0).renewed(held_by(ME), sent_at=100.0, now=100.1)
    standby = seen(held_by(ME), 100.0)
    leading_until = next(t / 10 for t in range(1000, 1200) if not is_leader(holder, CONFIG, t / 10))
    first_takeover = next(
        t / 10 for t in range(1000, 1200) if decide(standby, OTHER, CONFIG, t / 10) is Step.ACQUIRE
    )
    assert (leading_until, first_takeover) == (110.0, 115.0)


def test_a_renewal_keeps_the_term_and_a_takeover_starts_a_new_one() -> None:
    now = WALL + timedelta(seconds=40)
    renewal = desired_record(held_by(ME), ME, CONFIG, now)
    assert renewal.acquire_time == WALL and renewal.renew_time == now
    assert renewal.lease_transitions == 3 and renewal.resource_version == "7"
    takeover = desired_record(held_by(OTHER), ME, CONFIG, now)
    assert takeover.holder_identity == ME and takeover.acquire_time == now
    assert takeover.lease_transitions == 4 and takeover.resource_version == "7"
    assert takeover.lease_duration_seconds == 15
    first = desired_record(None, ME, CONFIG, now)
    assert first.lease_transitions == 0 and first.resource_version == ""


def test_a_release_frees_the_lease_for_one_second() -> None:
    released = released_record(held_by(ME), WALL)
    assert released.holder_identity == "" and released.lease_duration_seconds == 1
    assert released.resource_version == "7"
    assert decide(seen(released, 50.0), OTHER, CONFIG, 50.0) is Step.ACQUIRE


def test_lease_json_round_trip_with_micro_times() -> None:
    record = held_by(ME, WALL.replace(microsecond=120))
    body = lease_body("ops", "podpilot-leader", record)
    metadata = {"name": "podpilot-leader", "namespace": "ops", "resourceVersion": "7"}
    assert body["metadata"] == metadata
    assert body["spec"]["renewTime"] == "2026-03-01T12:00:00.000120Z"
    assert body["spec"]["acquireTime"] == "2026-03-01T12:00:00.000120Z"
    assert record_from_lease(body) == record
    created = lease_body("ops", "l", desired_record(None, ME, CONFIG, WALL))
    assert "resourceVersion" not in created["metadata"]
    assert created["spec"]["renewTime"] == "2026-03-01T12:00:00.000000Z"


def test_an_empty_lease_reads_as_free() -> None:
    record = record_from_lease({"metadata": {"resourceVersion": "1"}, "spec": {}})
    assert record == LeaseRecord(resource_version="1")
    assert decide(seen(record, 0.0), ME, CONFIG, 0.0) is Step.ACQUIRE


def test_the_leader_renews_every_retry_period_and_standbys_spread_out() -> None:
    assert wait_before_next(Step.RENEW, CONFIG, 0.99) == 2.0
    assert wait_before_next(Step.STAND_BY, CONFIG, 0.0) == 2.0
    assert 2.0 < wait_before_next(Step.STAND_BY, CONFIG, 0.99) < 2.4


def test_a_renewal_keeps_the_term_and_any_acquisition_starts_another() -> None:
    ours = desired_record(None, ME, CONFIG, datetime(2026, 1, 1, tzinfo=UTC))
    renewed = desired_record(ours, ME, CONFIG, datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC))
    assert term_of(renewed) == term_of(ours)
    theirs = desired_record(renewed, "other", CONFIG, datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    back = desired_record(theirs, ME, CONFIG, datetime(2026, 1, 1, 0, 2, tzinfo=UTC))
    released = released_record(renewed, datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC))
    again = desired_record(released, ME, CONFIG, datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC))
    terms = [term_of(record) for record in (ours, theirs, back, again)]
    assert len(set(terms)) == 4
    state = ElectorState().renewed(back, sent_at=10.0, now=10.1)
    assert state.term == term_of(back) and state.fenced().term == term_of(back)


@pytest.mark.parametrize(
    ("record", "next_step"),
    [(held_by(OTHER), Step.STAND_BY), (held_by(""), Step.ACQUIRE), (None, Step.CREATE)],
    ids=["another holder", "freed", "deleted"],
)
def test_a_leader_that_reads_a_lease_not_naming_it_fences_at_once(
    record: LeaseRecord | None, next_step: Step
) -> None:
    state = seen(None, 99.0).renewed(held_by(ME), sent_at=100.0, now=100.5)
    edited = state.observed(record, 101.0)
    assert decide(edited, ME, CONFIG, 101.0) is Step.FENCE  # 9 s before its renew deadline
    assert decide(edited.fenced(), ME, CONFIG, 101.0) is next_step


@pytest.mark.parametrize(
    ("lease", "renew", "written"), [(10.4, 10.2, 11), (10.5, 10.0, 11), (2.4, 1.6, 3), (15, 10, 15)]
)
def test_the_written_lease_duration_never_falls_to_the_renew_deadline(
    lease: float, renew: float, written: int
) -> None:
    config = ElectionConfig(lease_duration=lease, renew_deadline=renew, retry_period=1.0)
    assert config.lease_duration_seconds == written > renew
