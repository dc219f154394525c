"""Sharding: replicas share N Autoscalers (``podpilot run --shards R``), and one is killed.

On the bench cluster of ``autoscaler_load.py`` (Deployments of 3 KWOK pods at 50 % CPU, 10
namespaces, default 15 s period), ``--replicas`` operator processes run with leader election
on and ``--shards`` equal to their number, each under its own identity, Leases of a name of
their own for this run. The bench waits until every Autoscaler was evaluated once and the
shards settled, measures the steady state, SIGKILLs one replica, and measures again.

podpilot exposes an Autoscaler's series only on the replica acting for it, so each replica's
``podpilot_autoscaler_last_evaluation_timestamp_seconds`` says which Autoscalers it evaluates
and when. From them:

* **share**: the Autoscalers each replica evaluates, its CPU (share of one core) and RSS;
* **steady state**, before and after the kill: evaluations per Autoscaler per period and the
  lag (interval minus period), as ``autoscaler_ceiling`` measures them;
* **one evaluating replica**: every evaluation seen, per Autoscaler, in time order; the
  replica evaluating it changes only from the killed one to a survivor, after the kill, and no
  Autoscaler's series is on two replicas at one scrape;
* **failover**: for each of the killed replica's Autoscalers, from the kill to its first
  evaluation by a survivor, against one lease duration plus one period.

    scripts/dev bench sharding [--autoscalers 10000] [--replicas 3] [--periods 4]

Connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autoscaler_load import (
    PERIOD,
    Cluster,
    PodpilotOperator,
    bench_cluster,
    ensure_autoscalers,
    ensure_workloads,
    percentile,
    process_sample,
    say,
    table,
    wait_for,
)

LEASE_NAMESPACE = "default"
LEASE_DURATION = 15.0  # podpilot's default (client-go's)
SCRAPE_EVERY = 2.0


@dataclass
class Replica:
    identity: str
    operator: PodpilotOperator
    killed_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.killed_at is None


@dataclass(frozen=True)
class Handover:
    key: str
    before: str
    after: str
    last_before: float  # the previous replica's last evaluation
    first_after: float  # the new replica's first
    alternating: bool

    @property
    def gap(self) -> float:
        return self.first_after - self.last_before


@dataclass
class Evaluations:
    """Every evaluation stamp seen, per Autoscaler: (stamp, replica identity)."""

    by_key: dict[str, set[tuple[float, str]]] = field(default_factory=dict)
    most_shared: int = 0  # the most Autoscalers whose series were on two replicas at one scrape

    def scrape(self, replicas: Sequence[Replica]) -> dict[str, dict[str, float]]:
        seen: dict[str, dict[str, float]] = {}
        for replica in replicas:
            if replica.alive:
                seen[replica.identity] = replica.operator.last_evaluations()
        for identity, stamps in seen.items():
            for key, stamp in stamps.items():
                self.by_key.setdefault(key, set()).add((stamp, identity))
        keys = [set(stamps) for stamps in seen.values()]
        shared = {key for i, a in enumerate(keys) for b in keys[i + 1 :] for key in a & b}
        self.most_shared = max(self.most_shared, len(shared))
        return seen

    def handovers(self, since: float) -> list[Handover]:
        """Every change of the replica evaluating an Autoscaler after ``since``."""
        found: list[Handover] = []
        for key, history in self.by_key.items():
            ordered = sorted(item for item in history if item[0] >= since)
            segments: list[tuple[str, float, float, int]] = []  # owner, first, last, count
            for stamp, owner in ordered:
                if segments and segments[-1][0] == owner:
                    _, first, _, count = segments[-1]
                    segments[-1] = (owner, first, stamp, count + 1)
                else:
                    segments.append((owner, stamp, stamp, 1))
            for index, ((before, _, last, _), (after, first, _, _)) in enumerate(
                itertools.pairwise(segments)
            ):
                # A -> B -> A within two periods: the two replicas' evaluations interleave,
                # as they would if both acted at once (a shard cannot come back sooner).
                back = segments[index + 2] if index + 2 < len(segments) else None
                alternating = back is not None and back[0] == before and back[1] - last < 2 * PERIOD
                found.append(Handover(key, before, after, last, first, alternating))
        return found

    def lags(self, start: float, end: float) -> list[float]:
        lags: list[float] = []
        for history in self.by_key.values():
            stamps = sorted({stamp for stamp, _ in history if start <= stamp < end})
            lags += [b - a - PERIOD for a, b in itertools.pairwise(stamps)]
        return lags

    def evaluated_between(self, start: float, end: float) -> int:
        return sum(
            1
            for history in self.by_key.values()
            for stamp, _ in set(history)
            if start <= stamp < end
        )


@dataclass
class Window:
    """A steady-state measurement over whole periods."""

    label: str
    start: float
    end: float
    autoscalers: int
    evaluations: int
    lags: list[float]
    cpu_share: dict[str, float]
    rss_mib: dict[str, float]
    share: dict[str, int]

    @property
    def per_period(self) -> float:
        periods = (self.end - self.start) / PERIOD
        return self.evaluations / (self.autoscalers * periods)


def start_replicas(bench: Cluster, count: int, lease_name: str) -> list[Replica]:
    replicas = []
    for index in range(count):
        identity = f"bench-replica-{index}"
        log = Path(tempfile.mkdtemp(prefix=f"pp-bench-{identity}-")) / "operator.log"
        arguments = [
            f"--shards={count}",
            f"--leader-election-namespace={LEASE_NAMESPACE}",
            f"--leader-election-lease-name={lease_name}",
        ]
        operator = PodpilotOperator(bench, None, log, arguments, {"POD_NAME": identity})
        say(f"  {identity}: log {log}")
        replicas.append(Replica(identity, operator))
    return replicas


def settle(
    replicas: Sequence[Replica], evaluations: Evaluations, count: int, timeout: float
) -> None:
    """Until every Autoscaler was evaluated once and each replica holds its share, then three
    periods more: the loops' first periods and the start-up burst are not the steady state."""
    started = time.monotonic()

    def evaluated_and_shared() -> bool:
        seen = evaluations.scrape(replicas)
        covered = len(set().union(*seen.values()))
        shares = {identity: len(stamps) for identity, stamps in seen.items()}
        say(f"  {covered}/{count} Autoscalers evaluated; share per replica {shares}")
        return covered >= count and all(shares.values())

    wait_for(evaluated_and_shared, timeout, "every Autoscaler evaluated, by every replica", every=5)
    say(f"  settled after {time.monotonic() - started:.0f}s; three periods more")
    scrape_for(replicas, evaluations, 3 * PERIOD)


def scrape_for(replicas: Sequence[Replica], evaluations: Evaluations, seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        evaluations.scrape(replicas)
        time.sleep(min(left, SCRAPE_EVERY))


def measure(
    label: str, replicas: Sequence[Replica], evaluations: Evaluations, count: int, periods: int
) -> Window:
    alive = [replica for replica in replicas if replica.alive]
    before = {r.identity: process_sample(r.operator.pid) for r in alive}
    start = time.time()
    scrape_for(replicas, evaluations, periods * PERIOD)
    end = time.time()
    after = {r.identity: process_sample(r.operator.pid) for r in alive}
    seen = evaluations.scrape(replicas)
    return Window(
        label=label,
        start=start,
        end=end,
        autoscalers=count,
        evaluations=evaluations.evaluated_between(start, end),
        lags=evaluations.lags(start, end),
        cpu_share={
            key: (after[key].cpu_seconds - before[key].cpu_seconds) / (end - start) for key in after
        },
        rss_mib={key: after[key].rss_mib for key in after},
        share={identity: len(stamps) for identity, stamps in seen.items()},
    )


@dataclass
class Failover:
    killed: str
    autoscalers: int
    seconds: list[float]
    survivors: dict[str, int]  # Autoscalers each survivor took over


def kill_and_wait(
    replicas: Sequence[Replica], evaluations: Evaluations, timeout: float
) -> Failover:
    victim = replicas[0]
    # What it evaluated lately; a series it still shows from before it stopped acting for a
    # shard would count a survivor's ordinary evaluation as a take-over.
    recent = time.time() - PERIOD - 2 * SCRAPE_EVERY
    stamps = evaluations.scrape(replicas)[victim.identity]
    orphans = {key for key, stamp in stamps.items() if stamp >= recent}
    say(f"  SIGKILL {victim.identity}, which evaluates {len(orphans)} Autoscalers")
    victim.killed_at = time.time()
    victim.operator.process.kill()
    victim.operator.process.wait()
    taken: dict[str, tuple[float, str]] = {}

    def all_taken_over() -> bool:
        for identity, stamps in evaluations.scrape(replicas).items():
            for key in orphans & stamps.keys():
                if key not in taken and stamps[key] > (victim.killed_at or 0.0):
                    taken[key] = (stamps[key], identity)
        say(f"  taken over: {len(taken)}/{len(orphans)}")
        return len(taken) == len(orphans)

    wait_for(all_taken_over, timeout, "every orphaned Autoscaler evaluated by a survivor", 1.0)
    killed_at = victim.killed_at or 0.0
    survivors: dict[str, int] = {}
    for _, identity in taken.values():
        survivors[identity] = survivors.get(identity, 0) + 1
    return Failover(
        victim.identity,
        len(orphans),
        [stamp - killed_at for stamp, _ in taken.values()],
        survivors,
    )


def windows_table(windows: Iterable[Window]) -> str:
    rows = [
        [
            "window",
            "replicas",
            "Autoscalers per replica",
            "evaluations/autoscaler/period",
            "lag p50 s",
            "lag p99 s",
            "CPU per replica (share of 1 core)",
            "RSS per replica MiB",
        ]
    ]
    for window in windows:
        names = sorted(window.share)
        rows.append(
            [
                window.label,
                str(len(names)),
                " / ".join(f"{window.share[name]:,}" for name in names),
                f"{window.per_period:.2f}",
                f"{percentile(window.lags, 0.5):.2f}",
                f"{percentile(window.lags, 0.99):.2f}",
                " / ".join(f"{100 * window.cpu_share[name]:.0f} %" for name in names),
                " / ".join(f"{window.rss_mib[name]:.0f}" for name in names),
            ]
        )
    return table(rows)


def exclusivity_lines(
    evaluations: Evaluations, since: float, failover: Failover, killed_at: float
) -> tuple[list[str], bool]:
    """What the evaluation stamps say of one evaluating replica per Autoscaler, and whether it
    held: no two replicas' evaluations of one Autoscaler interleave, and no Autoscaler's series
    is on two replicas in one round of scrapes (a replica drops them when it stops acting; the
    scrapes of one round are a few milliseconds apart, so a handover inside one could show
    one, which would need a look, not a pass). The gap of each handover, from the last
    evaluation before to the first after, is printed."""
    handovers = evaluations.handovers(since)
    from_killed = [
        h for h in handovers if h.before == failover.killed and h.first_after > killed_at
    ]
    others = [
        h for h in handovers if not (h.before == failover.killed and h.first_after > killed_at)
    ]
    alternating = [h for h in handovers if h.alternating]
    smallest = min((h.gap for h in handovers), default=math.nan)
    lines = [
        f"evaluations seen: {sum(len(h) for h in evaluations.by_key.values()):,} of "
        f"{len(evaluations.by_key):,} Autoscalers",
        f"handovers after settling: {len(handovers):,} ({len(from_killed):,} from the killed "
        f"replica after the kill, {len(others):,} others: shards moved between live replicas)",
        f"smallest gap between the last evaluation before a handover and the first after: "
        f"{smallest:.2f} s",
        f"interleaved evaluations (A, B, A within two periods): {len(alternating)}",
        f"most Autoscalers on two replicas at one round of scrapes: {evaluations.most_shared}",
    ]
    for handover in (alternating or others)[:5]:
        lines.append(f"  e.g. {handover}")
    return lines, not alternating and evaluations.most_shared == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--autoscalers", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--periods", type=int, default=4, help="15 s periods per window")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds per wait (readying the workloads: seconds without progress)",
    )
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()
    if not 2 <= args.replicas <= 5 or not 1 <= args.autoscalers <= 10_000:
        parser.error("--replicas from 2 to 5, --autoscalers from 1 to 10,000")
    count = args.autoscalers
    started = time.monotonic()
    lease_name = f"podpilot-bench-{uuid.uuid4().hex[:6]}"
    with bench_cluster(args.keep_cluster) as bench:
        ensure_workloads(bench, count, args.timeout)
        ensure_autoscalers(bench, count)
        say(f"{args.replicas} replicas, --shards={args.replicas}, Leases {lease_name}-*")
        replicas = start_replicas(bench, args.replicas, lease_name)
        evaluations = Evaluations()
        try:
            settle(replicas, evaluations, count, args.timeout)
            since = time.time()
            before = measure("all replicas", replicas, evaluations, count, args.periods)
            failover = kill_and_wait(replicas, evaluations, args.timeout)
            scrape_for(replicas, evaluations, 2 * PERIOD)  # the survivors' take-over burst
            after = measure("after the kill", replicas, evaluations, count, args.periods)
        finally:
            for replica in replicas:
                if replica.alive:
                    replica.operator.stop()
            delete_leases(bench, lease_name)
    killed_at = replicas[0].killed_at or 0.0
    lines, exclusive = exclusivity_lines(evaluations, since, failover, killed_at)
    bound = LEASE_DURATION + PERIOD
    result = {
        "autoscalers": count,
        "replicas": args.replicas,
        "windows": [window_summary(window) for window in (before, after)],
        "failover": {
            "killed": failover.killed,
            "autoscalers": failover.autoscalers,
            "taken_over_by": failover.survivors,
            "p50_s": round(percentile(failover.seconds, 0.5), 2),
            "p99_s": round(percentile(failover.seconds, 0.99), 2),
            "max_s": round(max(failover.seconds, default=math.nan), 2),
            "bound_s": bound,
        },
        "one_evaluating_replica": exclusive,
    }
    print(json.dumps(result))
    print()
    print(windows_table((before, after)))
    print()
    print(
        f"failover of {failover.killed}'s {failover.autoscalers:,} Autoscalers to "
        f"{failover.survivors}: p50 {percentile(failover.seconds, 0.5):.1f} s, p99 "
        f"{percentile(failover.seconds, 0.99):.1f} s, last "
        f"{max(failover.seconds, default=math.nan):.1f} s after "
        f"the kill (one lease duration plus one period: {bound:.0f} s)"
    )
    print("\n".join(lines))
    print(f"\n{count:,} Autoscalers, {args.replicas} replicas; {time.monotonic() - started:.0f}s")
    return 0 if exclusive else 1


def window_summary(window: Window) -> dict[str, object]:
    return {
        "label": window.label,
        "share": window.share,
        "evaluations_per_period": round(window.per_period, 3),
        "lag_p50_s": round(percentile(window.lags, 0.5), 2),
        "lag_p99_s": round(percentile(window.lags, 0.99), 2),
        "cpu_share": {key: round(value, 3) for key, value in window.cpu_share.items()},
        "rss_mib": {key: round(value) for key, value in window.rss_mib.items()},
    }


def delete_leases(bench: Cluster, prefix: str) -> None:
    names = bench.kubectl("get", "leases", "-n", LEASE_NAMESPACE, "-o", "name").split()
    ours = [name for name in names if name.split("/", 1)[-1].startswith(prefix)]
    if ours:
        bench.kubectl("delete", "-n", LEASE_NAMESPACE, *ours, "--wait=false")


if __name__ == "__main__":
    sys.exit(main())
