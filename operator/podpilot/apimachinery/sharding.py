"""Autoscalers split across replicas: which shard an Autoscaler is in, and which live replica
should hold which shard. The pure part; ``kube/shards.py`` holds the Leases.

Each shard is held through a Lease of its own (``leader_election``), so that at any moment at
most one replica evaluates the Autoscalers of a shard: that safety rests on the Leases alone.
What is decided here is only who *tries* to hold a shard. Every replica announces itself with
a member Lease it renews; from the live members, every replica computes the same assignment
and competes only for its own shards, and releases a shard that is no longer its own, so a
new replica gets its share and a dead one's shards go to the survivors. The assignment is
sticky: a live member keeps the shards it holds while they are within its share, so a death
moves only the dead replica's shards (each move costs its Autoscalers a handover gap). Every
replica computes the same assignment once they have seen the same members and holders.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from podpilot.apimachinery.leader_election import (
    ElectionConfig,
    LeaseRecord,
    Observation,
    lease_expired,
)

GONE_AFTER_DURATIONS = 10
"""A member Lease unchanged for this many lease durations belongs to a replica that is gone
(every process has a member Lease of its own): the holder of shard 0 deletes it."""


def shard_of(namespace: str, name: str, shards: int) -> int:
    """The shard of the Autoscaler ``namespace/name``: stable across processes and restarts
    (CRC-32, not Python's salted ``hash``)."""
    return zlib.crc32(f"{namespace}/{name}".encode()) % shards


def shard_lease_name(base: str, shard: int) -> str:
    return f"{base}-shard-{shard}"


def member_lease_name(base: str, identity: str, shards: int) -> str:
    """A Lease name for a replica's identity (which need not be a valid object name), with the
    shard count it runs with, so that every replica sees the counts of the others."""
    digest = hashlib.blake2b(identity.encode(), digest_size=5).hexdigest()
    return f"{base}-member-{shards}-{digest}"


def is_member_lease(base: str, name: str) -> bool:
    return name.startswith(f"{base}-member-")


def member_shard_count(base: str, name: str) -> int | None:
    """The shard count a member Lease's name carries; None when it carries none."""
    count = name.removeprefix(f"{base}-member-").split("-", 1)[0]
    return int(count) if is_member_lease(base, name) and count.isdigit() else None


def _weight(shard: int, member: str) -> bytes:
    return hashlib.blake2b(f"{shard}/{member}".encode(), digest_size=8).digest()


def assignment(
    members: Iterable[str], shards: int, holders: Mapping[int, str] | None = None
) -> dict[int, str]:
    """Which member should hold each shard: balanced (every member ``shards // members``,
    and ``shards % members`` of them one more). A member that holds shards (``holders``: by
    shard, as the Leases were last read) keeps up to its share of them, those it ranks
    highest first, and the members ranking their next one highest keep the extra ones; every
    other shard goes to the member that ranks it highest among those with room (rendezvous
    hashing). So a member leaving moves only its own shards, and one joining gets its share
    from the others."""
    ordered = sorted(set(members))
    if not ordered:
        return {}
    share, extra = divmod(shards, len(ordered))
    holdings: dict[str, list[int]] = {member: [] for member in ordered}
    for shard, holder in sorted((holders or {}).items()):
        if 0 <= shard < shards and holder in holdings:
            holdings[holder].append(shard)
    owners: dict[int, str] = {}
    held = dict.fromkeys(ordered, 0)
    beyond_share: list[tuple[int, str]] = []
    for member, its in holdings.items():
        its.sort(key=lambda shard: _weight(shard, member), reverse=True)
        owners.update(dict.fromkeys(its[:share], member))
        held[member] = min(len(its), share)
        if len(its) > share:
            beyond_share.append((its[share], member))
    beyond_share.sort(key=lambda kept: _weight(*kept), reverse=True)
    for shard, member in beyond_share[:extra]:
        owners[shard] = member
        held[member] += 1
    extra -= min(extra, len(beyond_share))
    for shard in range(shards):
        if shard in owners:
            continue
        ranked = sorted(ordered, key=lambda member: _weight(shard, member), reverse=True)
        owner = next(m for m in ranked if held[m] < share or (held[m] == share and extra > 0))
        if held[owner] == share:
            extra -= 1
        owners[shard] = owner
        held[owner] += 1
    return owners


def counts_agree(base: str, live_member_leases: Iterable[str], shards: int) -> bool:
    """Whether every live member runs with ``shards`` shards. While replicas with another
    count are alive (a rolling update that changes it), an Autoscaler is in a different shard,
    on a different Lease, for each count: nobody may hold a shard then."""
    return all(member_shard_count(base, name) == shards for name in live_member_leases)


def wanted_shards(
    identity: str,
    members: Iterable[str],
    shards: int,
    holders: Iterable[tuple[int, str]] = (),
) -> frozenset[int]:
    """The shards ``identity`` should hold, counting itself among the members; ``holders``:
    (shard, holder) as the shard Leases were last read."""
    return _wanted(identity, frozenset(members) | {identity}, shards, tuple(sorted(holders)))


@functools.lru_cache(maxsize=64)
def _wanted(
    identity: str, members: frozenset[str], shards: int, holders: tuple[tuple[int, str], ...]
) -> frozenset[int]:
    # Asked before every write and by every waiting loop each second, for one or two member
    # sets and holders at a time: the hashing is done once per set.
    owners = assignment(members, shards, dict(holders))
    return frozenset(shard for shard, owner in owners.items() if owner == identity)


@dataclass(frozen=True)
class MemberView:
    """The member Leases as last listed, by name, each with when it was first seen as it is
    (on this replica's monotonic clock, as a standby judges a leader's Lease)."""

    observations: Mapping[str, Observation] = field(default_factory=dict)

    def live(self, config: ElectionConfig, now: float) -> frozenset[str]:
        """The identities holding a member Lease that changed within its duration, on our
        clock (a released one has no holder: its replica stopped)."""
        return frozenset(
            record.holder_identity
            for name in self.live_names(config, now)
            if (record := self.observations[name].record) is not None
        )

    def live_names(self, config: ElectionConfig, now: float) -> list[str]:
        """The names of the member Leases whose holder is alive (see ``live``)."""
        return [
            name
            for name, observation in self.observations.items()
            if observation.record is not None
            and observation.record.holder_identity
            and not lease_expired(observation, config, now)
        ]

    def gone(self, config: ElectionConfig, now: float) -> list[str]:
        """The member Leases unchanged for ``GONE_AFTER_DURATIONS`` lease durations."""
        return [
            name
            for name, observation in self.observations.items()
            if now - observation.since >= GONE_AFTER_DURATIONS * config.lease_duration
        ]

    def seen(self, listed: Mapping[str, LeaseRecord], now: float) -> MemberView:
        """After a LIST of the member Leases (``listed``: by name)."""
        observations: dict[str, Observation] = {}
        for name, record in listed.items():
            previous = self.observations.get(name)
            if previous is not None and previous.record == record:
                observations[name] = previous
            else:
                observations[name] = Observation(record, now)
        return MemberView(observations)
