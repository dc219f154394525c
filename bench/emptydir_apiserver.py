"""The emptyDir scale benchmark through the apiserver (the default of bench/emptydir_scale.py).

1. A dev cluster of its own (``--cluster-dir``, reused if running), no real nodes.
2. ``--nodes`` KWOK nodes (no kubelet: the audit never polls them, their usage is
   ``Unavailable``), 50 namespaces, ``--pods / 10`` Deployments of 10 replicas whose pods have
   2 emptyDirs each (a disk cache, half with a sizeLimit, and a memory ``/dev/shm``); two thirds
   set memory and ephemeral-storage limits. The templates name their node (``nodeName``), so
   the controller manager's ReplicaSets create the pods and the scheduler is not involved.
3. ``EmptyDirAuditPolicy/default`` with ``--interval``, then ``podpilot run --standalone
   --controllers emptydir``; it measures the time until the policy status shows a full scan
   of every pod after the start and every report exists, then one steady-state cycle.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from apiserver_bench import (
    BENCH_LABEL,
    FOREVER_TOLERATIONS,
    Bulk,
    Deadline,
    OperatorRun,
    Rows,
    ScaleBench,
    check_size,
    create_nodes,
    idle_rows,
    kwok_node,
    kwok_node_status,
    run_scale_bench,
    say,
    wait_for,
    wait_for_kwok,
)

NAMESPACES = 50
REPLICAS = 10
REPORTS = "/apis/podpilot.io/v1alpha1/emptydirreports"
POLICY = "/apis/podpilot.io/v1alpha1/emptydirauditpolicies/default"


def add_apiserver_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-dir", type=Path, default=Path("/tmp/pp-bench-scale"))
    parser.add_argument("--keep-cluster", action="store_true", help="do not take it down")
    parser.add_argument(
        "--populate-only", action="store_true", help="create the objects, keep the cluster, stop"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--interval", type=int, default=30, help="polling.interval, seconds")
    parser.add_argument(
        "--quiet-window", type=float, default=60, help="seconds of CPU sampling at the end"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="whole run, seconds")
    parser.add_argument("--log", type=Path, default=Path("/tmp/pp-bench-emptydir-operator.log"))


def app_pod_spec(index: int, node: str) -> dict[str, Any]:
    """One app container, a disk emptyDir (bounded for odd indices) and a memory one."""
    limits = {"memory": "512Mi", "ephemeral-storage": "2Gi"} if index % 3 else {}
    return {
        "nodeName": node,
        "containers": [
            {
                "name": "app",
                "image": "registry.invalid/app:1",
                "env": [{"name": f"E{i}", "value": "x" * 20} for i in range(10)],
                "resources": {"limits": limits},
                "volumeMounts": [
                    {"name": "cache", "mountPath": "/cache"},
                    {"name": "shm", "mountPath": "/dev/shm"},
                ],
            }
        ],
        "volumes": [
            {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"} if index % 2 else {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
        ],
    }


def deployment(index: int, node: str) -> dict[str, Any]:
    name = f"app-{index}"
    labels = {"app": name, BENCH_LABEL: "emptydir"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": f"pp-ed-{index % NAMESPACES}", "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {**app_pod_spec(index, node), "tolerations": FOREVER_TOLERATIONS},
            },
        },
    }


def populate(bulk: Bulk, deadline: Deadline, args: argparse.Namespace) -> list[tuple[str, str]]:
    started = time.monotonic()
    names = [f"pp-ed-node-{i:03d}" for i in range(args.nodes)]
    node_seconds = create_nodes(
        bulk,
        deadline,
        [kwok_node(name, "emptydir") for name in names],
        [kwok_node_status(i, name) for i, name in enumerate(names)],
    )
    namespaces = (
        ("POST", "/api/v1/namespaces", {"metadata": {"name": f"pp-ed-{i}"}})
        for i in range(NAMESPACES)
    )
    bulk.run("namespaces", namespaces, NAMESPACES, deadline)
    wait_for(
        "default ServiceAccounts",
        lambda: bulk.count("/api/v1/serviceaccounts") >= NAMESPACES,
        deadline,
    )
    workloads = args.pods // REPLICAS
    deployments = (
        (
            "POST",
            f"/apis/apps/v1/namespaces/pp-ed-{i % NAMESPACES}/deployments",
            deployment(i, names[i % args.nodes]),
        )
        for i in range(workloads)
    )
    bulk.run("deployments", deployments, workloads, deadline)
    pods = workloads * REPLICAS
    created = wait_for(
        f"the controller manager to create {pods} pods",
        lambda: bulk.count("/api/v1/pods") >= pods,
        deadline,
        interval=2,
        progress=lambda: str(bulk.count("/api/v1/pods")),
    )
    say(f"{pods} pods created by the ReplicaSets {created:.0f} s after the last Deployment")
    leases, running = wait_for_kwok(
        bulk, deadline, args.nodes, pods, "/api/v1/pods?fieldSelector=status.phase%3DPending"
    )
    total = time.monotonic() - started
    say(f"population done in {total:.0f} s")
    return [
        ("KWOK nodes", f"{args.nodes} (create + status: {node_seconds:.1f} s)"),
        ("Deployments / pods", f"{workloads} / {pods} (pods after {created:.0f} s)"),
        ("KWOK: pods Running after", f"{leases + running:.0f} s more"),
        ("population, total", f"{total:.0f} s"),
    ]


def policy(interval: int) -> dict[str, Any]:
    return {
        "apiVersion": "podpilot.io/v1alpha1",
        "kind": "EmptyDirAuditPolicy",
        "metadata": {"name": "default"},
        "spec": {"polling": {"interval": f"{interval}s", "maxConcurrent": 8}},
    }


def measure(
    bulk: Bulk, deadline: Deadline, operator: OperatorRun, pods: int, workloads: int
) -> list[tuple[str, str]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(operator.started_wall - 1))

    def status() -> dict[str, Any]:
        found: dict[str, Any] = bulk.get(POLICY).get("status") or {}
        return found

    def first_scan_done() -> bool:
        current = status()
        return (
            str(current.get("lastFullScan", "")) >= stamp
            and current.get("podsAudited") == pods
            and bulk.count(REPORTS) >= workloads
        )

    first = wait_for(
        "the first full scan to publish every report",
        first_scan_done,
        deadline,
        interval=0.5,
        operator=operator,
        progress=lambda: f"{bulk.count(REPORTS)} reports, status {status().get('podsAudited')}",
    )
    _, _, cpu_first = operator.usage()
    metrics = operator.metrics()
    first_scan = metrics.get("podpilot_emptydir_scan_duration_seconds", float("nan"))
    first_cycle = metrics.get("podpilot_emptydir_cycle_duration_seconds", float("nan"))
    say(f"first full scan published {first:.1f} s after the operator started")
    seen = status().get("lastFullScan")
    wait_for(
        "a steady-state cycle",
        lambda: status().get("lastFullScan") != seen,
        deadline,
        interval=0.5,
        operator=operator,
    )
    time.sleep(2)  # the cycle's gauges are set before its status
    metrics = operator.metrics()
    return [
        ("first full scan published after", f"{first:.1f} s (operator CPU {cpu_first:.1f} s)"),
        ("  its run_scan / whole cycle", f"{first_scan:.2f} s / {first_cycle:.2f} s"),
        (
            "steady-state run_scan / whole cycle",
            f"{metrics.get('podpilot_emptydir_scan_duration_seconds', float('nan')):.2f} s / "
            f"{metrics.get('podpilot_emptydir_cycle_duration_seconds', float('nan')):.2f} s",
        ),
        ("pods audited", f"{status().get('podsAudited')}"),
        ("EmptyDirReports", f"{bulk.count(REPORTS)}"),
    ]


def through_apiserver(args: argparse.Namespace) -> None:
    check_size(args.nodes, args.pods)
    workloads = args.pods // REPLICAS

    def prepare(bulk: Bulk) -> None:
        status, _ = bulk.request("POST", POLICY.rsplit("/", 1)[0], policy(args.interval))
        if status == 409:  # reused: only the interval may differ
            spec = {"spec": policy(args.interval)["spec"]}
            bulk.request("PATCH", POLICY, spec, "application/merge-patch+json")

    def measure_all(bulk: Bulk, deadline: Deadline, operator: OperatorRun) -> Rows:
        rows = measure(bulk, deadline, operator, workloads * REPLICAS, workloads)
        return rows + idle_rows(operator, args.quiet_window, None, deadline)

    run_scale_bench(
        ScaleBench(
            controller="emptydir",
            marker_namespace="pp-ed-0",
            title=f"emptyDir audit, {args.pods} pods x 2 emptyDirs on {args.nodes} KWOK nodes, "
            f"polling.interval {args.interval}s",
            populate=lambda bulk, deadline: populate(bulk, deadline, args),
            measure=measure_all,
            prepare=prepare,
        ),
        args,
    )
