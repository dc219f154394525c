"""The flannel scale benchmark through the apiserver (the default of bench/flannel_scale.py).

1. A dev cluster of its own (``--cluster-dir``, reused if running), no real nodes.
2. ``--nodes`` nodes annotated and CIDR-assigned the way flanneld (vxlan, kube subnet manager)
   and node IPAM leave them: ``spec.podCIDR(s)`` 10.x.y.0/24 of 10.0.0.0/8, the
   ``flannel.alpha.coreos.com/*`` annotations (``backend-data`` ``{"VNI":1,"VtepMAC":...}``, a
   ``public-ip`` that is the node's InternalIP, a distinct 127.x address that nothing dials),
   ``NetworkUnavailable=False``/``FlannelIsUp``; flannel's ``kube-flannel/kube-flannel-cfg``
   ConfigMap with ``net-conf.json``; ``--pods`` bare pods spread over the nodes with
   ``spec.nodeName`` set (no scheduler), and their status (Running, a podIP in the node's
   podCIDR) written by the benchmark.
3. ``podpilot run --standalone --controllers flannel``; it measures the time until the cluster
   report counts every node after the start and every node report exists, a steady-state
   recompute (forced by touching the ConfigMap), and the operator's CPU over ``--quiet-window``
   seconds of node heartbeats at the kubelet's pace (each node every 5 min).

KWOK does not run these nodes. Its pod-ready stage managed about 50 pods/s here (4 workers),
so 50,000 pods would take over 15 minutes, and nodes handed to it later by adding its
annotation are never taken over: KWOK 0.8.0 holds a node's lease only on the node's *Added*
event (``node_controller.go``: ``event.Type != informer.Modified``). Renewing 5,000 leases every
10 s (lease 40 s) would also be 500 writes/s on two cores. Without a lease the node lifecycle
controller marks the nodes ``Ready=Unknown`` and taints them after 3m20s; the pods tolerate it
forever, and the reporter does not read readiness.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from apiserver_bench import (
    BENCH_LABEL,
    FOREVER_TOLERATIONS,
    Bulk,
    Deadline,
    Heartbeats,
    OperatorRun,
    Rows,
    ScaleBench,
    check_size,
    create_nodes,
    idle_rows,
    kwok_node,
    kwok_node_status,
    node_address,
    ready_condition,
    run_scale_bench,
    say,
    wait_for,
)

PREFIX = "flannel.alpha.coreos.com/"
NAMESPACES = 10
NETWORK = "10.0.0.0/8"
NODE_REPORTS = "/apis/podpilot.io/v1alpha1/flannelsubnetreports"
NETWORK_REPORT = "/apis/podpilot.io/v1alpha1/flannelnetworkreports/cluster"
CONFIG_MAP = "/api/v1/namespaces/kube-flannel/configmaps/kube-flannel-cfg"


def add_apiserver_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-dir", type=Path, default=Path("/tmp/pp-bench-scale"))
    parser.add_argument("--keep-cluster", action="store_true", help="do not take it down")
    parser.add_argument(
        "--populate-only", action="store_true", help="create the objects, keep the cluster, stop"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument(
        "--quiet-window", type=float, default=60, help="seconds of CPU sampling at the end"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="whole run, seconds")
    parser.add_argument("--log", type=Path, default=Path("/tmp/pp-bench-flannel-operator.log"))


def node_name(index: int) -> str:
    return f"pp-fl-node-{index:05d}"


def flannel_node(index: int) -> dict[str, Any]:
    mac = f"0a:00:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"
    annotations = {
        PREFIX + "kube-subnet-manager": "true",
        PREFIX + "backend-type": "vxlan",
        PREFIX + "backend-data": json.dumps({"VNI": 1, "VtepMAC": mac}, separators=(",", ":")),
        PREFIX + "public-ip": node_address(index),
    }
    return kwok_node(
        node_name(index), "flannel", annotations=annotations, pod_cidr=pod_cidr(index), kwok=False
    )


def pod_cidr(index: int) -> str:
    return f"10.{index // 256}.{index % 256}.0/24"


def pod_ip(index: int, nodes: int) -> str:
    """Pod ``index`` is the ``index // nodes``-th pod of its node: .2, .3, … of the podCIDR."""
    host = index % nodes
    return f"10.{host // 256}.{host % 256}.{2 + index // nodes}"


def pod_status(index: int, nodes: int) -> dict[str, Any]:
    """What the kubelet reports for a running pod (KWOK's pod-ready stage writes the same)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ip, host = pod_ip(index, nodes), node_address(index % nodes)
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    running = {"running": {"startedAt": now}}
    return {
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "registry.invalid/app:1",
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": running,
                }
            ],
        }
    }


def flannel_status(index: int) -> dict[str, Any]:
    network = {
        "type": "NetworkUnavailable",
        "status": "False",
        "reason": "FlannelIsUp",
        "message": "Flannel is running on this node",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "lastHeartbeatTime": "2026-01-01T00:00:00Z",
    }
    status = kwok_node_status(index, node_name(index))
    status["status"]["conditions"] = [network, ready_condition()]
    return status


def config_map() -> dict[str, Any]:
    net_conf = {"Network": NETWORK, "EnableNFTables": False, "Backend": {"Type": "vxlan"}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-flannel-cfg", "labels": {"app": "flannel"}},
        "data": {"net-conf.json": json.dumps(net_conf, indent=2)},
    }


def pod(index: int, nodes: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{index}", "labels": {"app": "x", BENCH_LABEL: "flannel"}},
        "spec": {
            "nodeName": node_name(index % nodes),
            "tolerations": FOREVER_TOLERATIONS,
            "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
        },
    }


def populate(bulk: Bulk, deadline: Deadline, args: argparse.Namespace) -> list[tuple[str, str]]:
    started = time.monotonic()
    bulk.run(
        "namespaces",
        (
            ("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
            for name in ["kube-flannel", *(f"pp-fl-{i}" for i in range(NAMESPACES))]
        ),
        NAMESPACES + 1,
        deadline,
    )
    wait_for(
        "default ServiceAccounts",
        lambda: bulk.count("/api/v1/serviceaccounts") >= NAMESPACES + 1,
        deadline,
    )
    bulk.run(
        "ConfigMap",
        [("POST", "/api/v1/namespaces/kube-flannel/configmaps", config_map())],
        1,
        deadline,
    )
    node_seconds = create_nodes(
        bulk,
        deadline,
        [flannel_node(i) for i in range(args.nodes)],
        [flannel_status(i) for i in range(args.nodes)],
    )
    pods = (
        ("POST", f"/api/v1/namespaces/pp-fl-{i % NAMESPACES}/pods", pod(i, args.nodes))
        for i in range(args.pods)
    )
    pod_seconds = bulk.run("pods", pods, args.pods, deadline)
    # KWOK does not run these nodes (see the module docstring), so the benchmark writes every
    # pod's status itself, as the kubelet would: phase Running, podIP in the node's podCIDR.
    statuses = (
        (
            "PATCH",
            f"/api/v1/namespaces/pp-fl-{i % NAMESPACES}/pods/pod-{i}/status",
            pod_status(i, args.nodes),
        )
        for i in range(args.pods)
    )
    status_seconds = bulk.run(
        "pod status", statuses, args.pods, deadline, "application/merge-patch+json"
    )
    total = time.monotonic() - started
    say(f"population done in {total:.0f} s")
    return [
        ("nodes, flannel-annotated", f"{args.nodes} (create + status {node_seconds:.0f} s)"),
        ("pods (spec.nodeName)", f"{args.pods} (create {pod_seconds:.0f} s)"),
        ("pod status (by the bench)", f"{status_seconds:.0f} s"),
        ("population, total", f"{total:.0f} s"),
    ]


def measure(
    bulk: Bulk, deadline: Deadline, operator: OperatorRun, nodes: int
) -> list[tuple[str, str]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(operator.started_wall - 1))

    def status() -> dict[str, Any]:
        code, body = bulk.request("GET", NETWORK_REPORT)
        return (body.get("status") or {}) if code == 200 else {}

    def first_done() -> bool:
        current = status()
        return (
            str(current.get("observedAt", "")) >= stamp
            and (current.get("nodes") or {}).get("total") == nodes
            and bulk.count(NODE_REPORTS) >= nodes
        )

    first = wait_for(
        "the first reconcile to publish every report",
        first_done,
        deadline,
        interval=0.5,
        operator=operator,
        progress=lambda: f"{bulk.count(NODE_REPORTS)} node reports",
    )
    _, _, cpu_first = operator.usage()
    metrics = operator.metrics()
    whole = "podpilot_flannel_last_reconcile_duration_seconds"
    first_total = metrics.get(whole, float("nan"))
    compute_sum = metrics.get("podpilot_flannel_reconcile_duration_seconds_sum", 0.0)
    compute_count = metrics.get("podpilot_flannel_reconcile_duration_seconds_count", 0.0)
    say(f"first reconcile published {first:.1f} s after the operator started")
    current = status()
    # A steady-state recompute: touch the ConfigMap, wait for the next reconcile to finish.
    last = metrics.get("podpilot_flannel_last_reconcile_timestamp_seconds", 0.0)
    touch = {"metadata": {"annotations": {"podpilot.io/bench-touch": str(time.time())}}}
    bulk.request("PATCH", CONFIG_MAP, touch, "application/merge-patch+json")
    wait_for(
        "a steady-state recompute",
        lambda: (
            operator.metrics().get("podpilot_flannel_last_reconcile_timestamp_seconds", 0.0) > last
        ),
        deadline,
        interval=0.5,
        operator=operator,
    )
    metrics = operator.metrics()
    count = metrics.get("podpilot_flannel_reconcile_duration_seconds_count", 0.0)
    compute = (
        metrics.get("podpilot_flannel_reconcile_duration_seconds_sum", 0.0) - compute_sum
    ) / max(count - compute_count, 1)
    writes = sum(
        v for k, v in metrics.items() if k.startswith("podpilot_flannel_report_writes_total")
    )
    reconciles = metrics.get("podpilot_flannel_reconciles_total{result=ok}", 0.0)
    return [
        ("first reconcile published after", f"{first:.1f} s (operator CPU {cpu_first:.1f} s)"),
        ("  its whole recompute (incl. writes)", f"{first_total:.2f} s"),
        (
            "steady-state recompute: build_report / whole",
            f"{compute:.2f} s / {metrics.get(whole, float('nan')):.2f} s",
        ),
        ("recomputes so far", f"{reconciles:.0f}"),
        ("nodes in the cluster report", str((current.get("nodes") or {}).get("total"))),
        ("cluster report allocated / findings", _summary(current)),
        ("FlannelSubnetReports / report writes", f"{bulk.count(NODE_REPORTS)} / {writes:.0f}"),
    ]


def _summary(status: dict[str, Any]) -> str:
    return f"{status.get('allocated')} subnets, {status.get('findingCounts')}"


def through_apiserver(args: argparse.Namespace) -> None:
    check_size(args.nodes, args.pods, pods_per_node=110)

    def measure_all(bulk: Bulk, deadline: Deadline, operator: OperatorRun) -> Rows:
        rows = measure(bulk, deadline, operator, args.nodes)
        return rows + idle_rows(
            operator,
            args.quiet_window,
            "podpilot_flannel_reconciles_total{result=ok}",
            deadline,
            Heartbeats(bulk, [node_name(i) for i in range(args.nodes)]),
        )

    run_scale_bench(
        ScaleBench(
            controller="flannel",
            marker_namespace="pp-fl-0",
            title=f"flannel reporter, {args.nodes} nodes, {args.pods} pods",
            populate=lambda bulk, deadline: populate(bulk, deadline, args),
            measure=measure_all,
        ),
        args,
    )
