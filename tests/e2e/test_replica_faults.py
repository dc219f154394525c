"""Fault cases with two operator replicas: F9, F6, F16, F5 and F7 of docs/reliability.md.

Two ``podpilot run`` replicas (``tests/e2e/replicas.py``) elect a leader on a Lease (8 s lease,
6 s renew deadline, 2 s retry period) and watch only the test's namespace; each has a client
certificate of its own, so kube-apiserver's audit log (``podpilot_dev.audit``) tells who wrote
a Deployment's ``/scale`` and when. Every Autoscaler here wants more replicas than its target
has (each pod uses all of its CPU request, the target is 50 %), with an immediate scale-up
policy, so whoever leads acts within a period or two.

- F9: both replicas started together, ten times; every round one of them scales the target,
  and the audit log shows a single identity writing ``/scale``, the Lease's holder.
- F6: the leader reaches the apiserver through a ``FreezableRelay``, black-holed for 60 s: the
  standby takes over; the frozen one fences itself, its calls keep ending at their deadlines,
  and after the thaw it never writes ``/scale`` again nor undoes the new leader's count.
- F16: the leader's status write, let through, is held (``PODPILOT_TEST_STATUS_WRITE_DELAY_
  SECONDS``) and the leader SIGSTOPped in the hold; the standby takes over and scales; the
  old leader continued, its write arrives after the new leader's and is refused for its
  resourceVersion (409, audit log), and the new leader's status stays.
- F5: kube-apiserver killed for 5 s, then for 90 s, each time relaunched (``faults.killed``);
  F7: etcd killed for 20 s, then for 90 s. After each recovery: the replicas' caches converge
  (a change made after recovery and an Autoscaler created after it are acted on within
  ``CONVERGENCE`` s), the count never went down, and one identity writes ``/scale``.

The session's cluster-wide operator would be a third writer, so it is stopped for this module
and started again after it; after each control-plane outage ``faults.wait_recovered`` brings
the cluster back as later tests expect it (every component running, the apiserver ready, the
aggregated APIs Available).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl, OperatorProcess, fresh_namespace
from tests.e2e.faults import (
    ReplicaRecord,
    autoscaler_status,
    killed,
    replica_set_scale_downs,
    wait_recovered,
)
from tests.e2e.replicas import (
    ACT_WINDOW,
    ATTEMPT_INTERVAL,
    CALL_NOT_ENDED,
    FENCE_LINE,
    IDENTITIES,
    LEASE_CALL_FAILED,
    LEASE_DURATION,
    REPLICA_A,
    REPLICA_B,
    acquired_at,
    delete_lease,
    described,
    log_lines_with,
    now,
    replica,
    running,
    scale_writes_since,
    wait_holder,
    wait_seconds_from,
)
from tests.e2e.test_fault_matrix import Json, Record, measured
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, autoscaler, cpu_utilization, deployment, wait_ready

from podpilot_dev import audit
from podpilot_dev import cluster as dev_cluster
from podpilot_dev.fault_hooks import HELD_STATUS_WRITE, STATUS_WRITE_DELAY_SECONDS
from podpilot_dev.relay import FreezableRelay

SCALE_UP_AT_ONCE = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 10, "periodSeconds": 1}],
    }
}
START = 2  # replicas of every target; each pod at 100 % of its request, the target 50 %
WANTED = 4  # the first maxReplicas: what the leader scales a target to
ACT_WINDOW_DELTA = timedelta(seconds=ACT_WINDOW)

ROUNDS = 10  # F9
ROUND_TIMEOUT = 90.0  # start, first list of every watch, an evaluation with metrics, the patch

BLACK_HOLE = 60.0  # F6
TAKEOVER_SLACK = 3.0  # the standby's Lease calls and this test's reads on a loaded machine
# The Lease last changed at most one retry period before the freeze; the standby saw it within
# one attempt interval after that, and takes it over a lease duration after seeing it, at its
# next attempt: the lease duration plus one period, counted from when it saw the last renewal.
TAKEOVER_BOUND = LEASE_DURATION + 2 * ATTEMPT_INTERVAL + TAKEOVER_SLACK
AFTER_THAW = 30.0  # six evaluation periods watched after the thaw

STATUS_HOLD = 4.0  # F16: each status write of the first leader waits this long once allowed
AFTER_HOLD = 10.0  # F16: the status read every 0.5 s this long after the held write arrived

F5_OUTAGES = (5.0, 90.0)  # seconds kube-apiserver is dead, one outage after the other
F7_OUTAGES = (20.0, 90.0)  # seconds etcd is dead
CONVERGENCE = 60.0  # F5, F7: from recovery to the post-recovery changes acted on
RELAUNCH_TIMEOUT = 180.0  # kube-apiserver's start, as ``cluster.up`` allows it
TAIL = 15.0  # three more evaluation periods watched for a second writer


def wanting_more(name: str, max_replicas: int = WANTED) -> list[dict[str, Any]]:
    return [
        deployment(name, START, usage_cpu="100m"),
        target_autoscaler(name, max_replicas),
    ]


def target_autoscaler(name: str, max_replicas: int) -> dict[str, Any]:
    return autoscaler(
        name, name, min_replicas=1, max_replicas=max_replicas, metrics=[cpu_utilization(50)],
        behavior=SCALE_UP_AT_ONCE,
    )  # fmt: skip


def set_max_replicas(kubectl: Kubectl, namespace: str, name: str, count: int) -> None:
    patch = json.dumps({"spec": {"maxReplicas": count}})
    wait_until(
        lambda: (
            kubectl(
                "patch", "autoscalers.podpilot.io", name, "-n", namespace, "--type=merge",
                "-p", patch, "--request-timeout=10s", check=False,
            ).returncode
            == 0
        ),
        timeout=30,
        what=f"Autoscaler {name} patched to maxReplicas {count}",
    )  # fmt: skip


def wait_count(record: ReplicaRecord, count: int, timeout: float, what: str) -> float:
    """Wait until the recorded Deployment has ``count`` replicas (a reading every 0.5 s at
    most); return the seconds it took."""
    started = time.monotonic()
    wait_until(lambda: record.read() == count, timeout=timeout, interval=0.5, what=what)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def replica_faults_ready(
    cluster: dev_cluster.ClusterState, kubectl: Kubectl, operator: OperatorProcess
) -> Iterator[None]:
    """The session's cluster-wide operator stopped for the module (started again after it),
    and kube-apiserver writing its audit log (a cluster started before it had one gets its
    apiserver relaunched with it once)."""
    operator.stop()
    try:
        dev_cluster.ensure_audit_log(cluster)
        wait_recovered(cluster, kubectl)
        yield
    finally:
        operator.start()


@pytest.fixture
def web_namespace(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, replica_faults_ready: None
) -> str:
    """The test's namespace, holding ``web`` at START replicas and an Autoscaler that wants
    WANTED of it."""
    apply(kubectl, namespace, *wanting_more("web"))
    wait_ready(kubectl_json, namespace, "web", START)
    return namespace


def test_f9_two_replicas_started_together_never_both_write_scale(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    web_namespace: str,
    tmp_path: Path,
    record_property: Record,
) -> None:
    namespace = web_namespace
    replicas = [replica(cluster, tmp_path, identity, namespace) for identity in IDENTITIES]
    record = ReplicaRecord(kubectl, namespace, "web")
    leaders: list[str] = []
    round_seconds: list[float] = []
    for round_number in range(ROUNDS):
        if round_number % 2 == 0:
            delete_lease(kubectl, namespace)  # both race to create it; odd rounds to take it over
        kubectl("scale", "deployment", "web", "-n", namespace, f"--replicas={START}")
        begun, started = now(), time.monotonic()
        with running(replicas):
            wait_count(record, WANTED, ROUND_TIMEOUT, f"round {round_number}: web scaled up")
            leader = wait_holder(kubectl, namespace)
            wait_until(
                partial(scale_writes_since, cluster, namespace, begun),
                timeout=10,
                what=f"round {round_number}: the rescale in the audit log",
            )
        round_seconds.append(time.monotonic() - started)
        writes = scale_writes_since(cluster, namespace, begun)
        assert not audit.concurrent_actors(writes, ACT_WINDOW_DELTA), (
            f"round {round_number}: two replicas wrote /scale within {ACT_WINDOW:g} s:\n"
            + described(writes)
        )
        assert {entry.username for entry in writes} == {leader}, (
            f"round {round_number}: /scale written by others than the Lease's holder {leader}:\n"
            + described(writes)
        )
        leaders.append(leader)
    print(f"F9 leaders per round: {leaders}")
    measured(record_property, "F9", longest_round=max(round_seconds))


def test_f6_a_black_holed_leader_fences_and_never_undoes_the_new_leader(
    cluster: dev_cluster.ClusterState, kubectl: Kubectl, web_namespace: str, tmp_path: Path,
    record_property: Record,
) -> None:  # fmt: skip
    namespace, begun = web_namespace, now()
    record = ReplicaRecord(kubectl, namespace, "web")
    with FreezableRelay(cluster.ports["kube-apiserver"]) as relay:
        frozen = replica(cluster, tmp_path, REPLICA_A, namespace, server=relay.url)
        standby = replica(cluster, tmp_path, REPLICA_B, namespace)
        with running([frozen]):
            wait_holder(kubectl, namespace, REPLICA_A)  # started first, so it leads
            with running([standby]):
                wait_count(record, WANTED, ROUND_TIMEOUT, "the first leader scaling web up")
                frozen_at_wall, frozen_at = now(), time.monotonic()
                relay.freeze()
                try:
                    wait_holder(kubectl, namespace, REPLICA_B, timeout=TAKEOVER_BOUND + 30)
                    acquired = acquired_at(kubectl, namespace)
                    assert acquired is not None
                    takeover = (acquired - frozen_at_wall).total_seconds()
                    # Only the new leader can act on this: the frozen one cannot see it.
                    set_max_replicas(kubectl, namespace, "web", WANTED + 2)
                    new_count = wait_count(
                        record, WANTED + 2, 60, "the new leader scaling web to the new maximum"
                    )
                    wait_seconds_from(frozen_at, BLACK_HOLE)
                    fences = log_lines_with(frozen, FENCE_LINE)
                    ended_calls = [
                        line
                        for line in log_lines_with(frozen, *LEASE_CALL_FAILED)
                        if CALL_NOT_ENDED not in line
                    ]
                    forwarded = relay.forwarded_bytes
                finally:
                    relay.thaw()
                thawed_at_wall = now()
                record.watch(AFTER_THAW)
                wait_until(
                    lambda: relay.forwarded_bytes > forwarded,
                    timeout=30,
                    what="the thawed replica's calls going through again",
                )
                assert not frozen.exited(), f"the thawed replica exited; see {frozen.log_path}"
                wait_holder(kubectl, namespace, REPLICA_B, timeout=10)  # still the leader
    measured(record_property, "F6", takeover=takeover, new_leader_rescale=new_count)

    assert takeover <= TAKEOVER_BOUND, f"the standby took over {takeover:.1f} s after the freeze"
    assert fences, f"the frozen leader never logged its fence ({FENCE_LINE!r})"
    assert len(ended_calls) >= 2, (
        f"the frozen leader's Lease calls did not keep ending at their deadline: {ended_calls}"
    )
    writes = scale_writes_since(cluster, namespace, begun)
    old_leader_late = [
        entry for entry in writes if entry.username == REPLICA_A and entry.received >= acquired
    ]
    assert not old_leader_late, "the old leader wrote /scale after the takeover:\n" + described(
        old_leader_late
    )
    assert any(entry.username == REPLICA_B for entry in writes if entry.received >= acquired), (
        "the new leader's rescale is not in the audit log:\n" + described(writes)
    )
    after_thaw = [entry for entry in writes if entry.received >= thawed_at_wall]
    assert {entry.username for entry in after_thaw} <= {REPLICA_B}, described(after_thaw)
    assert not record.decreases(), f"the new leader's count was undone: {record.seen}"
    assert record.seen[-1][1] == WANTED + 2


def test_f16_a_status_write_held_past_a_takeover_never_replaces_the_new_leaders(
    cluster: dev_cluster.ClusterState, kubectl: Kubectl, web_namespace: str, tmp_path: Path,
    record_property: Record,
) -> None:  # fmt: skip
    """A's status write, let through while it led, is held (the test hook) and A stopped in
    that hold; B takes over and scales; A continued: its write arrives after B's, and the
    version it names is refused (409), so B's status stays."""
    namespace = web_namespace
    record = ReplicaRecord(kubectl, namespace, "web")
    late = replica(cluster, tmp_path, REPLICA_A, namespace)
    late.environment[STATUS_WRITE_DELAY_SECONDS] = f"{STATUS_HOLD:g}"
    standby = replica(cluster, tmp_path, REPLICA_B, namespace)
    with running([late]):
        wait_holder(kubectl, namespace, REPLICA_A)  # started first, so it leads
        with running([standby]):
            wait_count(record, WANTED, ROUND_TIMEOUT, "the first leader scaling web up")
            wait_until(
                lambda: autoscaler_status(kubectl, namespace).get("desiredReplicas") == WANTED,
                timeout=60,
                what="the first leader's status after its rescale",
            )
            held_before = len(log_lines_with(late, HELD_STATUS_WRITE))
            set_scale_down_window(kubectl, namespace, "web", 120)  # a status to write, no step
            wait_until(
                lambda: len(log_lines_with(late, HELD_STATUS_WRITE)) > held_before,
                timeout=30,
                interval=0.1,
                what="the leader's next status write held",
            )
            assert late.process is not None
            os.kill(late.process.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                wait_holder(kubectl, namespace, REPLICA_B, timeout=TAKEOVER_BOUND + 30)
                acquired = acquired_at(kubectl, namespace)
                assert acquired is not None
                set_max_replicas(kubectl, namespace, "web", WANTED + 2)
                wait_count(record, WANTED + 2, 60, "the new leader scaling web up")
                new_status = wait_until(
                    lambda: new_leaders_status(kubectl, namespace),
                    timeout=60,
                    what="the new leader's status after its rescale",
                )
            finally:
                os.kill(late.process.pid, signal.SIGCONT)
            stopped = time.monotonic() - stopped_at
            late_writes = wait_until(
                lambda: status_writes_since(cluster, namespace, acquired, REPLICA_A),
                timeout=30,
                what="the held status write arriving",
            )
            seen = [autoscaler_status(kubectl, namespace) for _ in watch_every(0.5, AFTER_HOLD)]
            assert not late.exited(), f"the continued replica exited; see {late.log_path}"
            wait_holder(kubectl, namespace, REPLICA_B, timeout=10)  # still the leader
    measured(record_property, "F16", stopped=stopped)

    replaced = [
        status
        for status in seen
        if status
        and (status.get("desiredReplicas"), status.get("lastScaleTime"))
        != (new_status["desiredReplicas"], new_status["lastScaleTime"])
    ]
    assert not replaced, f"the new leader's status was replaced: {replaced[:1]}"
    assert late_writes and all(entry.code == 409 for entry in late_writes), (
        "the held write was not refused for its version:\n" + described(late_writes)
    )
    assert status_writes_since(cluster, namespace, acquired, REPLICA_B), (
        "the new leader's status writes are not in the audit log"
    )
    assert not record.decreases(), f"a count went down: {record.seen}"
    late_scales = [
        entry
        for entry in scale_writes_since(cluster, namespace, acquired)
        if entry.username == REPLICA_A
    ]
    assert not late_scales, described(late_scales)


def set_scale_down_window(kubectl: Kubectl, namespace: str, name: str, seconds: int) -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": seconds}}
    kubectl(
        "patch", "autoscalers.podpilot.io", name, "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"behavior": behavior}}), "--request-timeout=10s",
    )  # fmt: skip


def new_leaders_status(kubectl: Kubectl, namespace: str) -> dict[str, Any] | None:
    status = autoscaler_status(kubectl, namespace)
    return status if status.get("desiredReplicas") == WANTED + 2 else None


def status_writes_since(
    cluster: dev_cluster.ClusterState, namespace: str, since: datetime, username: str
) -> list[audit.AuditEntry]:
    """``username``'s Autoscaler status writes in ``namespace`` received at or after ``since``
    (the refused ones too)."""
    entries = audit.read(cluster.audit_log, since)
    return audit.writes_to("status", entries, namespace, [username], attempts=True)


def watch_every(interval: float, seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(interval)


@dataclass
class OutagePair:
    """Two replicas (both direct) in one namespace, shared by F5 and F7: ``web`` has an
    Autoscaler whose maximum each recovery raises; ``late`` Deployments get theirs only after
    a recovery, one per outage."""

    namespace: str
    web_max: int = WANTED
    late: list[str] = field(default_factory=lambda: [f"late-{index}" for index in range(4)])
    # F5's first recovery: the audit log is checked from there to the end of F7, with the
    # same two replicas, the matrix's five minutes of "exactly one replica acts afterwards".
    first_recovered_at: dict[str, datetime] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outage_pair(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    replica_faults_ready: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OutagePair]:
    with fresh_namespace(kubectl, "control-plane-outages") as namespace:
        pair = OutagePair(namespace)
        late = [deployment(name, START, usage_cpu="100m") for name in pair.late]
        apply(kubectl, namespace, *wanting_more("web"), *late)
        for name in ["web", *pair.late]:
            wait_ready(kubectl_json, namespace, name, START)
        log_dir = tmp_path_factory.mktemp("outage-replicas")
        replicas = [replica(cluster, log_dir, identity, namespace) for identity in IDENTITIES]
        with running(replicas):
            wait_count(
                ReplicaRecord(kubectl, namespace, "web"), WANTED, ROUND_TIMEOUT,
                "the leader scaling web up",
            )  # fmt: skip
            yield pair


def survive_outage(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    pair: OutagePair,
    component: str,
    seconds: float,
) -> dict[str, float]:
    """Kill ``component`` for ``seconds``, relaunch it, and check what F5 and F7 ask after the
    recovery; return the measured seconds."""
    namespace = pair.namespace
    web = ReplicaRecord(kubectl, namespace, "web")
    wait_count(web, pair.web_max, CONVERGENCE, f"web at {pair.web_max} before the outage")
    late_name = pair.late.pop(0)
    late = ReplicaRecord(kubectl, namespace, late_name)
    assert late.read() == START
    fault_at = now()
    killed_at = time.monotonic()
    with killed(cluster, component, relaunch_timeout=RELAUNCH_TIMEOUT):
        time.sleep(seconds)
    wait_recovered(cluster, kubectl)
    recovered_at, recovered = now(), time.monotonic()
    pair.first_recovered_at.setdefault(component, recovered_at)
    recovery = recovered - killed_at - seconds  # from the relaunch to a usable cluster
    # Changes made after the recovery, which the replicas' caches must show them: a new
    # maximum for an existing Autoscaler, and a new Autoscaler for an existing Deployment.
    pair.web_max += 1
    set_max_replicas(kubectl, namespace, "web", pair.web_max)
    apply(kubectl, namespace, target_autoscaler(late_name, WANTED))
    wait_count(web, pair.web_max, CONVERGENCE, f"web scaled to {pair.web_max}")
    left = max(1.0, CONVERGENCE - (time.monotonic() - recovered))
    wait_count(late, WANTED, left, f"the new Autoscaler scaling {late_name}")
    converged = time.monotonic() - recovered
    web.watch(TAIL)
    late.read()

    leader = wait_holder(kubectl, namespace)
    after = scale_writes_since(cluster, namespace, recovered_at)
    assert {entry.username for entry in after} == {leader}, (
        f"after {component} came back, /scale was written by others than the holder {leader}:\n"
        + described(after)
    )
    since_fault = scale_writes_since(cluster, namespace, fault_at)
    assert not audit.concurrent_actors(since_fault, ACT_WINDOW_DELTA), described(since_fault)
    assert not web.decreases() and not late.decreases(), (web.seen, late.seen)
    assert not replica_set_scale_downs(kubectl, namespace)
    return {"recovery": recovery, "convergence": converged}


@pytest.mark.parametrize(
    ("case", "component", "outages"),
    [("F5", "kube-apiserver", F5_OUTAGES), ("F7", "etcd", F7_OUTAGES)],
    ids=["F5-kube-apiserver", "F7-etcd"],
)
def test_control_plane_killed_then_one_replica_acts_and_caches_converge(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    outage_pair: OutagePair,
    record_property: Record,
    case: str,
    component: str,
    outages: tuple[float, ...],
) -> None:
    for seconds in outages:
        figures = survive_outage(cluster, kubectl, outage_pair, component, seconds)
        measured(record_property, f"{case}_{seconds:g}s", **figures)
    since = outage_pair.first_recovered_at.get("kube-apiserver")
    if case == "F7" and since is not None:  # F5 ran first, in this module's order
        one_actor_for_five_minutes(cluster, kubectl, outage_pair, since, record_property)


AUDIT_WINDOW = timedelta(minutes=5)  # F5's "exactly one replica acts afterwards"


def one_actor_for_five_minutes(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    pair: OutagePair,
    since: datetime,
    record_property: Record,
) -> None:
    """From F5's first recovery, through F5's second outage and F7's two, at least five
    minutes of the audit log show one replica writing ``/scale`` at a time."""
    short = AUDIT_WINDOW - (now() - since)
    if short > timedelta(0):  # on a fast machine, watch the rest of the window
        ReplicaRecord(kubectl, pair.namespace, "web").watch(short.total_seconds())
    window = now() - since
    writes = scale_writes_since(cluster, pair.namespace, since)
    assert window >= AUDIT_WINDOW
    assert writes, "no /scale write in the window: nothing was shown"
    assert not audit.concurrent_actors(writes, ACT_WINDOW_DELTA), described(writes)
    measured(record_property, "F5_one_actor", audit_window=window.total_seconds())
