"""`podpilot run`'s leader election flags, and the one question every controller asks."""

from __future__ import annotations

import pytest

from podpilot.app.runtime import STANDALONE_TERM, Runtime
from podpilot.cli import build_parser
from podpilot.commands.conventions import CommandError
from podpilot.commands.run import settings_from
from podpilot.settings import OperatorSettings


def parse(*args: str) -> OperatorSettings:
    return settings_from(build_parser(only="run").parse_args(["run", *args]))


def test_on_by_default_with_client_go_s_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "podpilot-7d9f-x2x")
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    election = parse().leader_election
    assert election.enabled
    assert (election.lease_name, election.namespace) == ("podpilot-leader", "ops")
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (15, 10, 2)
    name, suffix = election.identity.rsplit("_", 1)
    assert name == "podpilot-7d9f-x2x" and len(suffix) == 10
    assert parse().leader_election.identity != election.identity  # a new process, a new one


def test_standalone_or_no_leader_election_turns_it_off() -> None:
    assert not parse("--standalone").leader_election.enabled
    assert not parse("--no-leader-election").leader_election.enabled


def test_every_setting_has_a_flag() -> None:
    election = parse(
        "--leader-election-lease-name=pp",
        "--leader-election-namespace=kube-system",
        "--leader-election-lease-duration=30",
        "--leader-election-renew-deadline=20",
        "--leader-election-retry-period=4",
    ).leader_election
    assert (election.lease_name, election.namespace) == ("pp", "kube-system")
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (30, 20, 4)


def test_durations_that_cannot_work_end_the_command() -> None:
    with pytest.raises(CommandError, match="renew deadline"):
        parse("--leader-election-lease-duration=10", "--leader-election-renew-deadline=10")


def test_without_an_elector_the_replica_may_always_act() -> None:
    runtime = Runtime(OperatorSettings())
    assert runtime.may_act()
    # Without shards every Autoscaler is in shard 0, acted for while the replica may act.
    assert (runtime.acted_for(), runtime.shard_of("team", "web")) == (frozenset({0}), 0)
    # One term for ever: the only writer never loses the right to act.
    assert runtime.term_for("team", "web") == STANDALONE_TERM
