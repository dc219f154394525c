"""Scale ceiling: how many Autoscalers podpilot evaluates every 15 s on one core.

The same private dev cluster and workloads as ``autoscaler_load.py`` (Deployments of 3 KWOK
pods at 50 % CPU, 10 namespaces, default 15 s period). For each N in turn (2,000, 3,000,
4,000 by default), the operator is started pinned to one CPU (``sched_setaffinity``), warmed
up until every Autoscaler was evaluated once, then measured over a fixed number of periods.

Per Autoscaler, the bench reads podpilot's ``podpilot_autoscaler_last_evaluation_timestamp_seconds``
every few seconds; the *lag* of an evaluation is its interval from the previous one minus the
period. N holds when the p99 lag stays within 10 % of the period (1.5 s) and every Autoscaler
was evaluated about once per period; the bench stops at the first N that does not hold.

    scripts/dev bench autoscaler_ceiling [--sizes 2000,3000,4000 | --autoscalers N] [--periods 4]
                                         [--cpu 1] [--keep-cluster] [--prepare]

Connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from autoscaler_load import (
    PERIOD,
    Cluster,
    Measurement,
    PodpilotOperator,
    bench_cluster,
    ensure_workloads,
    namespace_of,
    parse_sizes,
    percentile,
    run_podpilot,
    say,
    summary,
    table,
    wait_for,
)

DELETED = 1_000  # deleted at the end, with the operator running, to time their removal
MAX_P99_LAG = 0.1 * PERIOD
# An interval is the period plus the evaluation time, so a little under one per period.
MIN_EVALUATIONS_PER_PERIOD = 0.9


def holds(item: Measurement) -> bool:
    return (
        percentile(item.lags, 0.99) <= MAX_P99_LAG
        and item.evaluations_per_period >= MIN_EVALUATIONS_PER_PERIOD
    )


def ceiling_table(items: list[Measurement]) -> str:
    rows = [
        [
            "N",
            "lag p50 s",
            "lag p99 s",
            "evaluations/autoscaler/period",
            "CPU (share of 1 core)",
            "CPU ms/evaluation",
            "RSS MiB",
            "peak RSS MiB",
            "start-up s",
            "holds",
        ]
    ]
    for item in items:
        rows.append(
            [
                f"{item.autoscalers:,}",
                f"{percentile(item.lags, 0.5):.2f}",
                f"{percentile(item.lags, 0.99):.2f}",
                f"{item.evaluations_per_period:.2f}",
                f"{100 * item.cpu_share:.0f} %",
                f"{item.cpu_per_evaluation_ms:.2f}",
                f"{item.rss_mib:.0f}",
                f"{item.peak_rss_mib:.0f}",
                f"{item.startup_seconds:.0f}",
                "yes" if holds(item) else "no",
            ]
        )
    return table(rows)


def deletion(
    bench: Cluster, count: int, timeout: float
) -> Callable[[PodpilotOperator], dict[str, float]]:
    """The last ``DELETED`` Autoscalers deleted while the operator runs: seconds until the
    API server has none of them (nothing holds them, no finalizer), and until the operator has
    stopped their loops and dropped their series. The next run creates them again."""

    def delete(operator: PodpilotOperator) -> dict[str, float]:
        names: dict[str, list[str]] = {}
        for index in range(max(0, count - DELETED), count):
            names.setdefault(namespace_of(index), []).append(f"d-{index:05d}")
        keys = {f"{namespace}/{name}" for namespace, listed in names.items() for name in listed}
        say(f"deleting {len(keys)} Autoscalers with the operator running")
        started = time.monotonic()
        # One kubectl per namespace, side by side: kubectl deletes one object after another.
        with ThreadPoolExecutor(len(names)) as deleting:
            for done in [
                deleting.submit(
                    bench.kubectl, "delete", "autoscalers", "-n", namespace, "--wait=false", *listed
                )
                for namespace, listed in names.items()
            ]:
                done.result()

        def gone_from_api() -> bool:
            listed = bench.kubectl("get", "autoscalers", "-A", "-o", "name").split()
            return len(listed) <= count - len(keys)

        # Every 2 s: each check lists the Autoscalers, which costs the API server too.
        wait_for(gone_from_api, timeout, "the deleted Autoscalers gone", every=2.0)
        api = time.monotonic() - started
        wait_for(
            lambda: not keys & operator.last_evaluations().keys(),
            timeout,
            "the operator dropping the deleted Autoscalers",
            every=0.5,
        )
        dropped = time.monotonic() - started
        say(f"  gone from the API server after {api:.1f}s, from the operator after {dropped:.1f}s")
        return {"deleted": float(len(keys)), "api_seconds": api, "operator_seconds": dropped}

    return delete


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    counts = parser.add_mutually_exclusive_group()
    counts.add_argument("--sizes", default="2000,3000,4000", help="autoscaler counts, rising")
    counts.add_argument(
        "--autoscalers",
        type=int,
        metavar="N",
        help="only this count (the deletion of 1,000 is timed after the last count, if reached)",
    )
    parser.add_argument("--periods", type=int, default=4, help="15 s periods measured per N")
    parser.add_argument("--cpu", type=int, default=1, help="the one CPU the operator runs on")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds per wait (readying the workloads: seconds without progress)",
    )
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--profile", help="py-spy profile prefix (one file per N)")
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="profile only the thread holding the GIL (where the interpreter's CPU goes)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only create the workloads for the largest N and keep the cluster (creating "
        "12,000 pods takes minutes; measure later without waiting for it)",
    )
    args = parser.parse_args()
    sizes = [args.autoscalers] if args.autoscalers is not None else parse_sizes(args.sizes)
    sizes = [n for n in sizes if n <= 10_000]  # bounded: 30,000 pods at most
    started = time.monotonic()
    results: list[Measurement] = []
    with bench_cluster(args.keep_cluster or args.prepare) as bench:
        if args.prepare:
            ensure_workloads(bench, max(sizes), args.timeout)
            return 0
        for count in sizes:
            ensure_workloads(bench, count, args.timeout)
            profile = f"{args.profile}-{count}.txt" if args.profile else None
            item = run_podpilot(
                bench,
                count,
                args.periods,
                args.timeout,
                cpu=args.cpu,
                profile=profile,
                profile_gil=args.profile_gil,
                then=deletion(bench, count, args.timeout) if count == sizes[-1] else None,
            )
            results.append(item)
            print(json.dumps({"n": count, "podpilot": summary(item)}))
            print(ceiling_table(results), flush=True)
            if not holds(item):
                say(f"{count} Autoscalers do not hold on one core; stopping")
                break
    elapsed = time.monotonic() - started
    print(
        f"\none core (cpu {args.cpu}), {args.periods} periods of {PERIOD:.0f}s per N; "
        f"{elapsed:.0f}s"
    )
    print(ceiling_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
