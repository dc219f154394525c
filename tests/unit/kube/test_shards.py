"""Shards on their Leases, against the fake Lease server of ``test_lease.py`` (real HTTP on
127.0.0.1): three replicas share three shards, one each; no shard ever has two holders; a
black-holed replica's shard moves to a survivor, and a replica that stops hands its own back
at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from podpilot.apimachinery.leader_election import LeaseRecord, lease_body
from podpilot.apimachinery.sharding import member_lease_name, shard_of
from podpilot.kube.shards import ShardMembers, Shards

from .test_lease import CONFIG, clients, fake_apiserver, until

COUNT = 3
BASE = "podpilot-leader"


@asynccontextmanager
async def sharded(url: str, identity: str, count: int = COUNT) -> AsyncIterator[Shards]:
    api = clients(url, identity)
    shards = Shards(api, "ops", BASE, identity, CONFIG, count)
    task = asyncio.create_task(shards.run())
    try:
        yield shards
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        api.close()


@asynccontextmanager
async def never_two_holders(*replicas: Shards) -> AsyncIterator[None]:
    """Samples every 10 ms; fails the test if two replicas hold one shard at once."""
    overlaps: list[tuple[int, list[str]]] = []

    async def sample() -> None:
        while True:
            for shard in range(COUNT):
                holders = [each.identity for each in replicas if each.holds(shard)]
                if len(holders) > 1:
                    overlaps.append((shard, holders))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert overlaps == [], "a shard had two holders at once"


def one_each(*replicas: Shards) -> bool:
    held = sorted(shard for each in replicas for shard in each.held())
    return held == list(range(COUNT)) and all(len(each.held()) == 1 for each in replicas)


def test_three_replicas_hold_one_shard_each_and_a_stopped_ones_shard_moves_at_once() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with sharded(url, "a") as a, sharded(url, "b") as b, AsyncExitStack() as c_runs:
                c = await c_runs.enter_async_context(sharded(url, "c"))
                async with never_two_holders(a, b, c):  # c's stop and hand-back sampled too
                    await until(lambda: one_each(a, b, c), 6 * CONFIG.lease_duration)
                    for namespace, name in [("team", "web"), ("team", "api"), ("x", "y")]:
                        acting = [r for r in (a, b, c) if r.may_act_for(namespace, name)]
                        assert [r.holds(shard_of(namespace, name, COUNT)) for r in acting] == [True]
                        in_a_term = [r for r in (a, b, c) if r.term_for(namespace, name)]
                        assert in_a_term == acting
                    assert [sorted(r.acted_for()) for r in (a, b, c)] == [
                        r.held() for r in (a, b, c)
                    ]
                    stopped_shard = c.held()[0]
                    stopping_at = time.monotonic()
                    await c_runs.aclose()
                    # c handed its shard back and released its member Lease (two writes with
                    # no holder), so a survivor takes the shard at its next attempts instead
                    # of waiting for the Lease to expire.
                    assert leases.writes.count(("c", "")) == 2, leases.writes
                    await until(lambda: sorted(a.held() + b.held()) == [0, 1, 2], 10.0)
                moved = time.monotonic() - stopping_at
                print(f"a stopped replica's shard moved in {moved:.2f} s")
                assert stopped_shard in a.held() + b.held()
                member = leases.objects["ops", member_lease_name(BASE, "c", COUNT)]["spec"]
                assert member["holderIdentity"] == ""

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_black_holed_replicas_shard_goes_to_a_survivor_never_to_two() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (leases, url):
            async with (
                sharded(url, "a") as a,
                sharded(url, "b") as b,
                sharded(url, "c") as c,
                never_two_holders(a, b, c),
            ):
                await until(lambda: one_each(a, b, c), 6 * CONFIG.lease_duration)
                lost, kept = c.held()[0], {"a": a.held(), "b": b.held()}
                key = next(
                    (f"team-{i}", "web")
                    for i in range(99)
                    if shard_of(f"team-{i}", "web", COUNT) == lost
                )
                before = c.term_for(*key)
                assert before is not None
                leases.black_holed.add("c")
                frozen_at = time.monotonic()
                await until(lambda: c.held() == [], 2 * CONFIG.renew_deadline)
                await until(lambda: sorted(a.held() + b.held()) == [0, 1, 2], 30.0)
                took_over = time.monotonic() - frozen_at
                # c's member Lease and its shard's Lease expire a lease duration after their last
                # change; then a survivor wants the shard and takes it at its next attempt.
                assert took_over <= 2 * CONFIG.lease_duration + 4 * CONFIG.retry_period, took_over
                assert lost in a.held() + b.held()
                # Sticky: the survivors kept their own shards; only c's moved.
                assert all(set(kept[each.identity]) <= set(each.held()) for each in (a, b))
                leases.black_holed.clear()  # c is back: it gets a shard again, never two holders
                await until(lambda: one_each(a, b, c), 10 * CONFIG.lease_duration)
                # Whoever holds c's old shard now holds it in another term than c did.
                holder = next(r for r in (a, b, c) if lost in r.held())
                assert holder.term_for(*key) not in (None, before)

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_lone_replica_holds_every_shard() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (_, url):
            async with sharded(url, "a") as a:
                await until(lambda: a.held() == [0, 1, 2], 4 * CONFIG.lease_duration)
                assert a.may_act_for("team", "web")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_replica_with_another_shard_count_pauses_every_shard_until_it_is_gone() -> None:
    async def scenario() -> None:
        with fake_apiserver() as (_, url):
            async with sharded(url, "a") as a, sharded(url, "b") as b:
                await until(lambda: sorted(a.held() + b.held()) == [0, 1, 2], 20.0)
                async with sharded(url, "new", count=4) as new:
                    # Its shard 1 of 4 is not a's or b's shard 1 of 3: nobody may hold any.
                    await until(lambda: not (a.held() or b.held() or new.held()), 20.0)
                    await asyncio.sleep(2 * CONFIG.lease_duration)
                    assert not (a.held() or b.held() or new.held())
                await until(lambda: sorted(a.held() + b.held()) == [0, 1, 2], 20.0)

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_second_cancel_during_the_hand_back_still_stops_every_lease_task() -> None:
    """Cancelled twice (a stop that is itself cancelled), the ordered hand-back is cut short,
    but no Lease task of the replica runs on: the member Lease would keep it a member."""

    async def scenario() -> None:
        with fake_apiserver() as (_, url):
            api = clients(url, "a")
            shards = Shards(api, "ops", BASE, "a", CONFIG, COUNT)
            task = asyncio.create_task(shards.run())
            await until(lambda: shards.held() == [0, 1, 2], 4 * CONFIG.lease_duration)
            task.cancel()
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0)
            running = [t.get_name() for t in asyncio.all_tasks() if "Lease" in t.get_name()]
            running += [
                t.get_name() for t in asyncio.all_tasks() if t.get_name() == "shard members"
            ]
            api.close()
            assert running == []

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_members_renewal_counts_from_the_answer_and_the_list_from_its_request() -> None:
    """A renewal that lands while the LIST waits must not look older than it is (a member
    would look dead early); the view's freshness counts from the request, the cautious way."""
    name = member_lease_name(BASE, "b", COUNT)
    with fake_apiserver() as (leases, url):
        record = LeaseRecord(holder_identity="b", lease_duration_seconds=3)
        leases.store(("ops", name), lease_body("ops", name, record))
        api = clients(url, "a")
        members = ShardMembers(api, "ops", BASE, CONFIG)
        readings = iter([100.0, 103.0])
        asyncio.run(members.refresh(lambda: next(readings)))
        api.close()
    assert members.listed_at == 100.0
    assert members.view.observations[name].since == 103.0
