"""Autoscalers split into shards, each held through a Lease of its own (``--shards N``).

Every replica runs one ``LeaderElector`` per shard, plus one for a member Lease that only it
ever holds (``<lease>-member-<shards>-<hash of its identity>``): renewing it is how the others
know it is alive, and with which shard count. Every retry period it lists the member Leases,
and each shard's elector competes only while ``apimachinery.sharding.assignment`` of the live
members (and of the shards' holders: a live holder keeps its share) gives the shard to this
replica (and every live member runs with the same count); an elector whose shard went to
another replica hands its Lease back. A replica that dies stops renewing; its member Lease and
its shard Leases expire after a lease duration, and the survivors take its shards. Among
replicas of one shard count, safety rests on each shard's Lease alone: whatever two replicas
think of the members, only a shard's holder evaluates its Autoscalers. Across counts (an
Autoscaler is in another shard for each), it rests on the member view (no shard held while a
live member has another count, nor without a list fresher than the renew deadline), and on the
chart's Recreate strategy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import kubernetes

from podpilot.apimachinery.leader_election import (
    ElectionConfig,
    LeaseRecord,
    Term,
    record_from_lease,
)
from podpilot.apimachinery.sharding import (
    MemberView,
    counts_agree,
    is_member_lease,
    member_lease_name,
    shard_lease_name,
    shard_of,
    wanted_shards,
)
from podpilot.kube.clients import ApiClients
from podpilot.kube.lease import (
    CONFLICT,
    NOT_FOUND,
    Clock,
    LeaderElector,
    LeaseLock,
    OneCallAtATime,
)

log = logging.getLogger(__name__)


class ShardMembers:
    """The member Leases as this replica last listed them; one LIST per call of ``refresh``,
    bounded by the election's call deadline."""

    def __init__(
        self, clients: ApiClients, namespace: str, base: str, config: ElectionConfig
    ) -> None:
        self._api = kubernetes.client.CoordinationV1Api(clients.coordination)
        self._namespace = namespace
        self._base = base
        self._config = config
        self._timeout = config.request_timeout()
        self.view = MemberView()
        self.listed_at: float | None = None
        """When the last LIST that succeeded was sent (monotonic clock)."""
        self._calls = OneCallAtATime(clients, config.call_deadline, "the member Leases")

    def fresh(self, now: float) -> bool:
        """Whether the view comes from a LIST sent within the renew deadline: an older one may
        show members dead that are alive (their renewals not seen), and no replica decides on
        it, as a leader does not act on a renewal older than that."""
        return self.listed_at is not None and now - self.listed_at < self._config.renew_deadline

    async def refresh(self, clock: Callable[[], float]) -> None:
        """One LIST, bounded by the call deadline; never a second while one is still waiting
        for the apiserver. Its freshness counts from when it was sent; a member's change counts
        from when the answer came, as the elector counts a standby's view: a renewal that
        landed while the LIST waited must not look older than it is."""
        sent_at = clock()
        records = await self._calls.run(self._list)
        self.view = self.view.seen(records, clock())
        self.listed_at = sent_at

    def _list(self) -> dict[str, LeaseRecord]:
        response = self._api.list_namespaced_lease(
            self._namespace, _preload_content=False, _request_timeout=self._timeout
        )
        try:
            listed = json.loads(cast(Any, response).data)
        finally:
            cast(Any, response).release_conn()
        leases = {str((item.get("metadata") or {}).get("name")): item for item in listed["items"]}
        return {
            name: record_from_lease(lease)
            for name, lease in leases.items()
            if is_member_lease(self._base, name)
        }

    async def delete(self, name: str) -> None:
        """Delete a member Lease (one that has long expired: its replica is gone), on condition
        that it is still as listed: a replica that renewed it meanwhile keeps it (409)."""
        observation = self.view.observations.get(name)
        version = observation.record.resource_version if observation and observation.record else ""
        options = kubernetes.client.V1DeleteOptions(
            preconditions=kubernetes.client.V1Preconditions(resource_version=version or None)
        )
        call = partial(
            self._api.delete_namespaced_lease,
            name,
            self._namespace,
            body=options,
            _request_timeout=self._timeout,
        )
        try:
            await self._calls.run(call)
        except kubernetes.client.ApiException as error:
            if error.status not in (NOT_FOUND, CONFLICT):
                raise


class Shards:
    """This replica's side of sharding: which shards it holds, and whether it may act for an
    Autoscaler (``may_act_for``), asked before every write as ``LeaderElector.is_leader`` is."""

    def __init__(
        self,
        clients: ApiClients,
        namespace: str,
        base: str,
        identity: str,
        config: ElectionConfig,
        count: int,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.count = count
        self.identity = identity
        self.config = config
        self._clock = clock
        self.members = ShardMembers(clients, namespace, base, config)
        self.base = base
        member_name = member_lease_name(base, identity, count)
        member_lock = LeaseLock(clients, namespace, member_name, config)
        self.member = LeaderElector(member_lock, identity, config, clock=clock)
        self.electors = [
            LeaderElector(
                LeaseLock(clients, namespace, shard_lease_name(base, shard), config),
                identity,
                config,
                clock=clock,
                wants=partial(self.wants, shard),
            )
            for shard in range(count)
        ]

    def let_expire_on_stop(self) -> None:
        """The shard Leases expire at the stop instead of going back (``LeaderElector``'s);
        the member Lease still goes back: it authorizes no write."""
        for elector in self.electors:
            elector.let_expire_on_stop()

    def wanted(self) -> frozenset[int]:
        """The shards this replica should hold among the members it sees alive now; none
        without a fresh list of them (at start: else every replica starting together would
        take every free shard, and hand most back a moment later) or its own member Lease."""
        now = self._clock()
        if not self.members.fresh(now) or not self.member.is_leader():
            return frozenset()
        view = self.members.view
        if not counts_agree(self.base, view.live_names(self.config, now), self.count):
            return frozenset()
        return wanted_shards(self.identity, view.live(self.config, now), self.count, self.holders())

    def holders(self) -> list[tuple[int, str]]:
        """(shard, holder) of each shard Lease with a holder, as this replica last read it
        (every elector reads its Lease each attempt, also while it does not compete)."""
        records = [
            (shard, elector.state.observation) for shard, elector in enumerate(self.electors)
        ]
        return [
            (shard, seen.record.holder_identity)
            for shard, seen in records
            if seen is not None and seen.record is not None and seen.record.holder_identity
        ]

    def wants(self, shard: int) -> bool:
        return shard in self.wanted()

    def holds(self, shard: int) -> bool:
        return self.electors[shard].is_leader()

    def held(self) -> list[int]:
        return [shard for shard in range(self.count) if self.holds(shard)]

    def acted_for(self) -> frozenset[int]:
        """The shards ``may_act_for`` allows now, read once for all of their Autoscalers."""
        return frozenset(shard for shard in self.wanted() if self.holds(shard))

    def shard_of(self, namespace: str, name: str) -> int:
        return shard_of(namespace, name, self.count)

    def may_act_for(self, namespace: str, name: str) -> bool:
        return self.term_for(namespace, name) is not None

    def term_for(self, namespace: str, name: str) -> Term | None:
        """The term of the Autoscaler's shard Lease while it holds that shard and still sees
        the same members as when it took it (a fresh list, every live member on the same
        count): a replica that can no longer list them cannot see a replica of another count
        appear, and stops at once. None otherwise."""
        shard = self.shard_of(namespace, name)
        term = self.electors[shard].term()
        return term if term is not None and shard in self.wanted() else None

    async def run(self) -> None:
        """Renew the member Lease, list the members and run every shard's elector, until
        cancelled: then every Lease held is handed back (a clean stop moves the shards at
        once instead of a lease duration later)."""
        tasks = [asyncio.create_task(self.member.run(), name="shard member Lease")]
        tasks.append(asyncio.create_task(self._list_members(), name="shard members"))
        tasks += [
            asyncio.create_task(elector.run(), name=f"shard {shard} Lease")
            for shard, elector in enumerate(self.electors)
        ]
        try:
            # Not gather: cancelling a gather cancels every task at once, and cancelling them
            # again below would cut their hand-back short.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            try:
                # The shards first, each handing its Lease back; then the member Lease (another
                # replica takes this one's shards as soon as it is no member).
                for group in (tasks[2:], tasks[:2]):
                    for task in group:
                        task.cancel()
                    await asyncio.wait(group)
                    for task in group:
                        if not task.cancelled() and task.exception() is not None:
                            log.error("%s ended: %s", task.get_name(), task.exception())
            finally:
                # Cancelled again meanwhile, the ordered hand-back was cut short: no Lease
                # task may run on (the member Lease would keep this replica a member).
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks)

    async def _list_members(self) -> None:
        while True:
            try:
                await self.members.refresh(self._clock)
                if self.holds(0):  # one replica tidies up: the holder of shard 0
                    for name in self.members.view.gone(self.config, self._clock()):
                        await self.members.delete(name)
                        log.info("deleted the Lease %s: its replica is gone", name)
            except Exception as error:
                log.warning("listing the shard members failed: %s", error)
            await asyncio.sleep(self.config.retry_period)
