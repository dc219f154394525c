"""Benchmark: a full emptyDir audit of 10,000 pods (2 emptyDirs each) on 200 KWOK nodes.

By default it goes through the apiserver (``bench/emptydir_apiserver.py``): a dev cluster of
its own with 200 KWOK nodes and 1,000 Deployments of 10 pods, the real operator
(``podpilot run --standalone --controllers emptydir``), and the time until its first full scan
has published every report, a steady-state cycle, peak RSS and CPU of the operator process.

    .venv/bin/python bench/emptydir_scale.py [--pods 10000] [--nodes 200] [--timeout 1800]
    .venv/bin/python bench/emptydir_scale.py --in-memory [--kwok-share 0.5] [--trace-memory]

``--in-memory`` runs the controller's pure path only (no cluster): slim pods as the pod watch
holds them, 200 node Summaries decoded from JSON (the poll's CPU cost), then ``run_scan``
(audit, per-workload and cluster rollup), the metric values, and every report's status body and
digest. Half of the nodes are KWOK there: their pods have no usage, as in the dev cluster.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from emptydir_apiserver import add_apiserver_arguments, app_pod_spec, through_apiserver

from podpilot.emptydir.api.report_objects import report_status_body, status_digest
from podpilot.emptydir.engine.audit_policy import AuditPolicy
from podpilot.emptydir.engine.model import NodeFacts
from podpilot.emptydir.engine.objects import NodeInfo, slim_pod
from podpilot.emptydir.engine.scan import Snapshot, run_scan, volumes_by_node
from podpilot.emptydir.engine.series import gauge_values
from podpilot.emptydir.engine.summary import NodeStatsState, decode_summary
from podpilot.emptydir.engine.trend import update_history

GI = 1024**3
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_pod(index: int, node: str) -> dict[str, Any]:
    workload = f"app-{index // 10}"  # 10 replicas per Deployment
    return {
        "metadata": {
            "name": f"{workload}-{index}",
            "namespace": f"ns-{(index // 10) % 50}",
            "uid": f"uid-{index}",
            "labels": {"app": workload},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{workload}-rs",
                    "uid": f"rs-{workload}",
                    "controller": True,
                }
            ],
            "managedFields": [{"manager": "kube-controller-manager"}] * 4,
        },
        "spec": app_pod_spec(index, node),
        "status": {"phase": "Running"},
    }


def summary_body(node: str, pods: list[dict[str, Any]]) -> bytes:
    stamp = NOW.isoformat().replace("+00:00", "Z")
    entries = []
    for pod in pods:
        fs = {"time": stamp, "usedBytes": 100 * 1024**2, "capacityBytes": 100 * GI}
        fs |= {"availableBytes": 50 * GI, "inodes": 6_000_000, "inodesUsed": 10, "inodesFree": 1}
        entries.append(
            {
                "podRef": {k: pod["metadata"][k] for k in ("name", "namespace", "uid")},
                "volume": [
                    dict(fs, name="cache"),
                    dict(fs, name="shm", capacityBytes=256 * 1024**2),
                ],
                "ephemeral-storage": fs,
            }
        )
    return json.dumps(
        {"node": {"nodeName": node, "fs": {"usedBytes": 1}}, "pods": entries}
    ).encode()


def timed(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label:<42} {now - started:8.3f} s")
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument(
        "--in-memory", action="store_true", help="the pure path only, without a cluster"
    )
    parser.add_argument("--kwok-share", type=float, default=0.5, help="--in-memory only")
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="--in-memory: measure Python allocations with tracemalloc (slows stages ~2x)",
    )
    add_apiserver_arguments(parser)
    args = parser.parse_args()
    if args.in_memory:
        in_memory(args)
    else:
        through_apiserver(args)


def in_memory(args: argparse.Namespace) -> None:

    node_names = [f"node-{i}" for i in range(args.nodes)]
    kwok = set(node_names[: int(args.nodes * args.kwok_share)])
    raw_pods = [make_pod(i, node_names[i % args.nodes]) for i in range(args.pods)]

    if args.trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    pods = [slim_pod(p) for p in raw_pods]
    nodes = {
        n: NodeInfo(NodeFacts(n, 64 * GI, 500 * GI, 64 * GI, "v1.31.0", "linux"), kwok=n in kwok)
        for n in node_names
    }
    model_bytes = tracemalloc.get_traced_memory()[0]
    started = timed(f"slim {args.pods} pods into the model", started)

    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
    bodies = {n: summary_body(n, by_node.get(n, [])) for n in node_names if n not in kwok}
    started = time.perf_counter()
    stats: dict[str, NodeStatsState] = {}
    history = {}
    keep = volumes_by_node(pods)
    for name, body in bodies.items():
        summary = decode_summary(body)
        stats[name] = NodeStatsState(summary=summary, last_success=NOW)
        history[name] = update_history({}, summary, keep.get(name, set()))
    for name in kwok:
        stats[name] = NodeStatsState(consecutive_failures=1, last_error="KWOK")
    started = timed(
        f"decode {len(bodies)} Summaries ({sum(map(len, bodies.values())) // 1024} KiB)", started
    )

    snapshot = Snapshot(
        pods, nodes, {}, stats, history, {}, AuditPolicy(), NOW + timedelta(seconds=5)
    )
    result = run_scan(snapshot)
    started = timed(f"full scan: audit + rollup ({len(result.reports)} reports)", started)
    values = gauge_values(result.audits, pod_granularity=False)
    series = sum(len(v) for v in values.values.values())
    started = timed(f"metric values ({series} series)", started)
    digests = [status_digest(report_status_body(r, [], NOW)) for r in result.reports]
    timed(f"report status bodies + digests ({len(digests)})", started)

    if args.trace_memory:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{'model (slim pods, nodes)':<42} {model_bytes / 2**20:8.1f} MiB")
        print(f"{'held after scan (model, stats, result)':<42} {current / 2**20:8.1f} MiB")
        print(f"{'peak during the scan':<42} {peak / 2**20:8.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'process max RSS (incl. the raw input pods)':<42} {rss:8.1f} MiB")
    findings = sum(len(a.findings) for a in result.audits)
    print(f"pods audited {result.rollup.pods_audited}, findings {findings}")


if __name__ == "__main__":
    main()
