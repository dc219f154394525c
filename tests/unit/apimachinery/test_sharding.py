"""Which shard an Autoscaler is in, and which live replica should hold which shard."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from podpilot.apimachinery.leader_election import ElectionConfig, LeaseRecord
from podpilot.apimachinery.sharding import (
    GONE_AFTER_DURATIONS,
    MemberView,
    assignment,
    counts_agree,
    is_member_lease,
    member_lease_name,
    member_shard_count,
    shard_lease_name,
    shard_of,
    wanted_shards,
)

CONFIG = ElectionConfig()
identities = st.sets(st.text(min_size=1, max_size=20), min_size=1, max_size=8)


@given(st.text(max_size=30), st.text(min_size=1, max_size=30), st.integers(1, 64))
def test_an_autoscaler_is_in_one_shard_whatever_process_asks(
    namespace: str, name: str, shards: int
) -> None:
    shard = shard_of(namespace, name, shards)
    assert 0 <= shard < shards
    assert shard == shard_of(namespace, name, shards)


def test_the_shard_is_the_same_in_another_process_with_another_hash_seed() -> None:
    names = [("team-a", "web"), ("team-b", "api"), ("bench-3", "d-00042")]
    program = (
        "import json, sys; from podpilot.apimachinery.sharding import shard_of; "
        "print(json.dumps([shard_of(ns, n, 7) for ns, n in json.loads(sys.argv[1])]))"
    )
    for seed in ("1", "2"):
        # This process's path: the subprocess imports the same podpilot.
        environment = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=os.pathsep.join(sys.path))
        result = subprocess.run(
            [sys.executable, "-c", program, json.dumps(names)],
            capture_output=True, text=True, timeout=60, check=True, env=environment,
        )  # fmt: skip
        assert json.loads(result.stdout) == [shard_of(ns, n, 7) for ns, n in names]


def test_autoscalers_spread_over_the_shards() -> None:
    counts = [0, 0, 0]
    for index in range(3_000):
        counts[shard_of(f"bench-{index % 10}", f"d-{index:05d}", 3)] += 1
    assert min(counts) > 900, counts


@given(identities, st.integers(1, 40))
def test_every_shard_has_one_owner_and_no_member_more_than_its_share(
    members: set[str], shards: int
) -> None:
    owners = assignment(members, shards)
    assert sorted(owners) == list(range(shards))
    assert set(owners.values()) <= members
    room = math.ceil(shards / len(members))
    for member in members:
        assert list(owners.values()).count(member) <= room


@given(identities, st.integers(1, 40))
def test_every_member_computes_the_same_assignment(members: set[str], shards: int) -> None:
    wanted = [wanted_shards(member, members - {member}, shards) for member in sorted(members)]
    assert sum(len(each) for each in wanted) == shards
    assert frozenset().union(*wanted) == frozenset(range(shards))
    assert assignment(sorted(members), shards) == assignment(sorted(members, reverse=True), shards)


def test_with_as_many_members_as_shards_each_holds_one() -> None:
    members = {"podpilot-a_1", "podpilot-b_2", "podpilot-c_3"}
    assert sorted(assignment(members, 3).values()) == sorted(members)


def test_a_dead_members_shards_go_to_the_survivors() -> None:
    members = {"a", "b", "c"}
    before = assignment(members, 6)
    after = assignment(members - {"c"}, 6)
    assert set(after.values()) == {"a", "b"}
    assert [shard for shard, owner in before.items() if owner == "c"]


@given(identities, st.integers(1, 40))
def test_a_dead_members_shards_move_and_no_survivors_shard_does(
    members: set[str], shards: int
) -> None:
    """Sticky: a survivor keeps what it holds (within its share, which a death only grows);
    without the holders, the balanced assignment moved survivors' shards too (3,391 of the
    bench's 10,000 Autoscalers paid a handover for it)."""
    held = assignment(members | {"the-dead-one"}, shards)
    after = assignment(members, shards, held)
    assert sorted(after) == list(range(shards))
    for shard, holder in held.items():
        if holder != "the-dead-one":
            assert after[shard] == holder
    room = math.ceil(shards / len(members))
    assert max(list(after.values()).count(member) for member in members) <= room


@given(identities, st.integers(1, 40), st.dictionaries(st.integers(-2, 42), st.text(max_size=20)))
def test_any_holders_still_give_one_owner_each_within_the_share_and_the_same_for_all(
    members: set[str], shards: int, holders: dict[int, str]
) -> None:
    """Holders as read (stale, of other shard counts, gone, out of range) never unbalance it,
    and every member that read the same holders computes the same assignment."""
    owners = assignment(members, shards, holders)
    assert sorted(owners) == list(range(shards)) and set(owners.values()) <= members
    share = shards // len(members)
    counts = {member: list(owners.values()).count(member) for member in members}
    assert set(counts.values()) <= {share, share + 1}
    for member in members:  # a holder keeps at least its share of what it holds
        its = [shard for shard, holder in holders.items() if holder == member and shard < shards]
        kept = [shard for shard in its if owners[shard] == member]
        assert len(kept) >= min(len([s for s in its if s >= 0]), share)
    wanted = [
        wanted_shards(member, members - {member}, shards, holders.items())
        for member in sorted(members)
    ]
    assert sum(len(each) for each in wanted) == shards
    assert frozenset().union(*wanted) == frozenset(range(shards))


@given(identities, st.integers(1, 40))
def test_a_replacement_for_a_dead_member_gets_its_share(members: set[str], shards: int) -> None:
    """A survivor keeps what it holds, yet a replica started in a dead one's place is not left
    idle: every member holds ``shards // members`` or one more."""
    held = assignment(members | {"the-dead-one"}, shards)
    survivors = assignment(members, shards, held)
    after = assignment(members | {"the-replacement"}, shards, survivors)
    share = shards // (len(members) + 1)
    assert list(after.values()).count("the-replacement") in {share, share + 1}


def test_a_joining_member_gets_its_share_from_those_over_it() -> None:
    held = assignment({"a", "b"}, 4)  # two each
    after = assignment({"a", "b", "c"}, 4, held)  # one each, and one of them a second
    assert sorted(after.values()).count("c") == 1
    assert all(held[shard] == owner for shard, owner in after.items() if owner in {"a", "b"})
    after = assignment({"a", "b", "c", "d"}, 4, held)  # one each: a and b give one up each
    assert sorted(after.values()) == ["a", "b", "c", "d"]
    assert all(held[shard] == owner for shard, owner in after.items() if owner in {"a", "b"})


def test_no_members_no_assignment() -> None:
    assert assignment([], 3) == {}


def test_lease_names_are_object_names_whatever_the_identity() -> None:
    name = member_lease_name("podpilot-leader", "pod/with:odd chars_1234", 12)
    assert name.startswith("podpilot-leader-member-12-")
    assert member_shard_count("podpilot-leader", name) == 12
    assert name.replace("-", "").isalnum() and name == name.lower()
    assert is_member_lease("podpilot-leader", name)
    assert not is_member_lease("podpilot-leader", shard_lease_name("podpilot-leader", 0))


def held(holder: str, version: str) -> LeaseRecord:
    return LeaseRecord(holder_identity=holder, lease_duration_seconds=15, resource_version=version)


def test_a_member_is_alive_while_its_lease_changes_within_its_duration() -> None:
    view = MemberView().seen({"m-a": held("a", "1"), "m-b": held("b", "1")}, now=100.0)
    view = view.seen({"m-a": held("a", "2"), "m-b": held("b", "1")}, now=110.0)
    assert view.live(CONFIG, 114.0) == {"a", "b"}
    assert view.live(CONFIG, 116.0) == {"a"}  # b unchanged since 100 on our clock


def test_a_released_member_lease_is_no_member() -> None:
    released = LeaseRecord(holder_identity="", lease_duration_seconds=1, resource_version="3")
    view = MemberView().seen({"m-a": released}, now=100.0)
    assert view.live(CONFIG, 100.0) == frozenset()


def test_member_leases_unchanged_for_long_are_gone_and_deleted_by_name() -> None:
    view = MemberView().seen({"m-a": held("a", "1"), "m-b": held("", "7")}, now=0.0)
    later = GONE_AFTER_DURATIONS * CONFIG.lease_duration
    assert view.gone(CONFIG, later - 1) == []
    assert sorted(view.gone(CONFIG, later)) == ["m-a", "m-b"]
    assert MemberView().seen({}, now=later).gone(CONFIG, later) == []


def test_nobody_holds_a_shard_while_live_replicas_run_with_different_counts() -> None:
    three = [member_lease_name("p", identity, 3) for identity in ("a", "b")]
    assert counts_agree("p", three, 3)
    assert not counts_agree("p", [*three, member_lease_name("p", "c", 4)], 3)
    assert not counts_agree("p", [*three, member_lease_name("p", "c", 4)], 4)
    assert not counts_agree("p", ["p-member-deadbeef"], 3)  # a name without a count
    assert member_shard_count("p", "p-member-deadbeef") is None
    assert member_shard_count("p", "p-shard-1") is None
