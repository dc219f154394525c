"""Scale ceiling: how many Autoscalers podpilot evaluates every 15 s on one core.

The same private dev cluster and workloads as ``autoscaler_load.py`` (Deployments of 3 KWOK
pods at 50 % CPU, 10 namespaces, default 15 s period). For each N in turn (2,000, 3,000,
4,000 by default), the operator is started pinned to one CPU (``sched_setaffinity``), warmed
up until every Autoscaler was evaluated once, then measured over a fixed number of periods.

Per Autoscaler, the bench reads podpilot's ``podpilot_autoscaler_last_evaluation_timestamp_seconds``
every few seconds; the *lag* of an evaluation is its interval from the previous one minus the
period. N holds when the p99 lag stays within 10 % of the period (1.5 s) and every Autoscaler
was evaluated about once per period; the bench stops at the first N that does not hold.

    .venv/bin/python bench/autoscaler_ceiling.py [--sizes 2000,3000,4000] [--periods 4] [--cpu 1]

Connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from autoscaler_load import (
    PERIOD,
    Measurement,
    bench_cluster,
    ensure_workloads,
    parse_sizes,
    percentile,
    run_podpilot,
    say,
    summary,
    table,
)

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
                "yes" if holds(item) else "no",
            ]
        )
    return table(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,3000,4000", help="autoscaler counts, rising")
    parser.add_argument("--periods", type=int, default=4, help="15 s periods measured per N")
    parser.add_argument("--cpu", type=int, default=1, help="the one CPU the operator runs on")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per wait")
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
    sizes = [n for n in parse_sizes(args.sizes) if n <= 10_000]  # bounded: 30,000 pods at most
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
