"""Sharding (``run --shards 3``): three replicas share the Autoscalers, one shard each, and a
killed replica's shard moves to a survivor.

The replicas are those of the fault tests (``tests/e2e/replicas.py``: short Lease settings, a
client certificate each, so kube-apiserver's audit log names who wrote each ``/scale``), plus
``--shards 3``. Six Autoscalers, two per shard, each want more replicas than their target has
(pods at 100 % of their request, target 50 %, immediate scale-up), so whoever holds a shard
rescales its targets within a period of any raise of ``maxReplicas``:

1. Started together, the replicas settle at one shard Lease each.
2. Every Autoscaler's ``maxReplicas`` raised: every target is rescaled, each by the holder of
   its Autoscaler's shard only, and all three replicas do some of the work.
3. One replica SIGKILLed, ``maxReplicas`` raised again: its shard goes to a survivor, which
   rescales that shard's targets, alone, within a lease duration and a period or so of the
   kill. (The survivors' own shards may be rebalanced between them meanwhile, so their
   targets are not checked for a single writer in this phase.)
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from tests.e2e.conftest import Kubectl
from tests.e2e.faults import raw_json
from tests.e2e.replicas import (
    ATTEMPT_INTERVAL,
    LEASE_DURATION,
    LEASE_NAME,
    described,
    now,
    replica,
    running,
)
from tests.e2e.test_fault_matrix import Json, Record, measured
from tests.e2e.test_replica_faults import (  # noqa: F401 (a fixture)
    replica_faults_ready,
    set_max_replicas,
    target_autoscaler,
)
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, deployment, wait_ready

from podpilot.apimachinery.sharding import shard_lease_name, shard_of
from podpilot_dev import audit
from podpilot_dev import cluster as dev_cluster

SHARDS = 3
IDENTITIES = ("podpilot-shard-a", "podpilot-shard-b", "podpilot-shard-c")
START = 2
PERIOD = 5.0  # the Autoscalers' evaluationPeriodSeconds (tests/e2e/workloads.py)
SETTLE_TIMEOUT = 120.0
# The killed replica's member Lease and shard Lease expire a lease duration after their last
# renewal; a survivor sees that at its next attempt, takes the shard at the one after, and
# evaluates within a period; the slack covers a loaded 2-core machine.
FAILOVER_BOUND = LEASE_DURATION + 2 * ATTEMPT_INTERVAL + PERIOD + 10.0


def names_in_shards(namespace: str) -> list[str]:
    """Six Autoscaler names, two in each shard of ``namespace``."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    for index in itertools.count():
        name = f"web-{index}"
        shard = shard_of(namespace, name, SHARDS)
        if len(by_shard[shard]) < 2:
            by_shard[shard].append(name)
        if all(len(by_shard[shard]) == 2 for shard in range(SHARDS)):
            return sorted(name for names in by_shard.values() for name in names)
    raise AssertionError("unreachable")


def shard_holders(kubectl: Kubectl, namespace: str) -> dict[int, str]:
    """Each shard Lease's holder (the replica's CN), where one holds it."""
    holders: dict[int, str] = {}
    for shard in range(SHARDS):
        path = (
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/"
            f"{shard_lease_name(LEASE_NAME, shard)}"
        )
        found = raw_json(kubectl, path) or {}
        identity = str((found.get("spec") or {}).get("holderIdentity") or "")
        if identity:
            holders[shard] = identity.rsplit("_", 1)[0]
    return holders


def counts(kubectl_json: Json, namespace: str, names: list[str]) -> dict[str, int]:
    listed = kubectl_json("get", "deployments", "-n", namespace)["items"]
    found = {item["metadata"]["name"]: item["spec"]["replicas"] for item in listed}
    return {name: found.get(name, 0) for name in names}


def writers_by_target(
    cluster: dev_cluster.ClusterState, namespace: str, since: datetime
) -> dict[str, set[str]]:
    writes = audit.writes_to("scale", audit.read(cluster.audit_log, since), namespace, IDENTITIES)
    by_target: dict[str, set[str]] = defaultdict(set)
    for entry in writes:
        by_target[entry.name].add(entry.username)
    return by_target


def test_three_replicas_share_the_shards_and_a_killed_ones_shard_moves_to_a_survivor(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    replica_faults_ready: None,  # noqa: F811
    tmp_path: Path,
    record_property: Record,
) -> None:
    names = names_in_shards(namespace)
    for name in names:
        apply(kubectl, namespace, deployment(name, START, usage_cpu="100m"))
        apply(kubectl, namespace, target_autoscaler(name, START))  # wants more, may not yet
    for name in names:
        wait_ready(kubectl_json, namespace, name, START)
    replicas = [replica(cluster, tmp_path, identity, namespace) for identity in IDENTITIES]
    for process in replicas:
        process.command.append(f"--shards={SHARDS}")
    with running(replicas):
        holders = wait_until(
            lambda: (
                (found := shard_holders(kubectl, namespace))
                and sorted(found.values()) == sorted(IDENTITIES)
                and found
            ),
            timeout=SETTLE_TIMEOUT,
            interval=1,
            what="one shard Lease held by each replica",
        )

        begun = now()
        for name in names:
            set_max_replicas(kubectl, namespace, name, START + 1)
        wait_until(
            lambda: set(counts(kubectl_json, namespace, names).values()) == {START + 1},
            timeout=SETTLE_TIMEOUT,
            what="every target rescaled by its shard's holder",
        )
        assert shard_holders(kubectl, namespace) == holders, "a shard moved while all were alive"
        writers = writers_by_target(cluster, namespace, begun)
        for name in names:
            holder = holders[shard_of(namespace, name, SHARDS)]
            assert writers[name] == {holder}, (name, writers, described_since(cluster, begun))
        assert set().union(*writers.values()) == set(IDENTITIES), writers

        victim = replicas[2]
        lost = [shard for shard, identity in holders.items() if identity == IDENTITIES[2]]
        orphans = [name for name in names if shard_of(namespace, name, SHARDS) in lost]
        killed_at, killed_clock = now(), time.monotonic()
        victim.stop(kill=True)
        for name in names:
            set_max_replicas(kubectl, namespace, name, START + 2)
        wait_until(
            lambda: all(
                count == START + 2 for count in counts(kubectl_json, namespace, orphans).values()
            ),
            timeout=SETTLE_TIMEOUT,
            interval=0.5,
            what="the killed replica's targets rescaled by a survivor",
        )
        failover = time.monotonic() - killed_clock
        after = shard_holders(kubectl, namespace)
        writers = writers_by_target(cluster, namespace, killed_at)
        for name in orphans:
            survivor = after[shard_of(namespace, name, SHARDS)]
            assert survivor in IDENTITIES[:2], after
            assert writers[name] == {survivor}, (name, writers)
        assert failover <= FAILOVER_BOUND, (failover, described_since(cluster, killed_at))
        measured(record_property, "sharding", failover=failover)


def described_since(cluster: dev_cluster.ClusterState, since: datetime) -> str:
    return described(audit.read(cluster.audit_log, since))
