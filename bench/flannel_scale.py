"""Time one full flannel reconcile over 5,000 nodes and 50,000 pods.

By default it goes through the apiserver (``bench/flannel_apiserver.py``): a dev cluster of its
own with 5,000 KWOK nodes annotated as flanneld leaves them and 50,000 pods, the real operator
(``podpilot run --standalone --controllers flannel``), the time until its first reconcile has
published every report, a steady-state recompute, peak RSS and CPU of the operator process.

    .venv/bin/python bench/flannel_scale.py [--nodes 5000] [--pods 50000] [--timeout 3600]
    .venv/bin/python bench/flannel_scale.py --in-memory

``--in-memory`` runs the controller's path without a cluster: slim copies as the kopf indices
and the pod watch hold them, the snapshot, ``build_report``, rendering every CRD status, the
unchanged-content check the publisher does, finding transitions and the metrics. Prints seconds
per stage and memory.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import json
import resource
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from flannel_apiserver import add_apiserver_arguments, through_apiserver

from podpilot.flannel.api.reports import desired_reports
from podpilot.flannel.engine.model_cache import ConfigMapRef, slim_node, slim_pod, snapshot
from podpilot.flannel.engine.report import ReporterOptions, build_report
from podpilot.flannel.engine.selectors import parse_equality_selector
from podpilot.flannel.engine.transitions import diff
from podpilot.observability.flannel_recorder import FlannelMetricsRecorder

PREFIX = "flannel.alpha.coreos.com/"
NETWORK = ipaddress.ip_network("10.0.0.0/8")


def node(index: int) -> dict[str, Any]:
    cidr = f"10.{index // 256}.{index % 256}.0/24"
    ip = f"172.16.{index // 250}.{index % 250 + 1}"
    return {
        "metadata": {
            "name": f"node-{index:05d}",
            "uid": f"uid-{index}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"kubernetes.io/os": "linux"},
            "annotations": {
                PREFIX + "kube-subnet-manager": "true",
                PREFIX + "backend-type": "vxlan",
                PREFIX + "backend-data": json.dumps({"VNI": 1, "VtepMAC": mac(index)}),
                PREFIX + "public-ip": ip,
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "allocatable": {"pods": "110"},
            "conditions": [{"type": "NetworkUnavailable", "status": "False"}],
        },
    }


def mac(index: int) -> str:
    return f"0a:00:00:{index >> 16 & 255:02x}:{index >> 8 & 255:02x}:{index & 255:02x}"


def pod(index: int, nodes: int) -> dict[str, Any]:
    host = index % nodes
    subnet = ipaddress.ip_network(f"10.{host // 256}.{host % 256}.0/24")
    return {
        "metadata": {"name": f"pod-{index}", "namespace": "bench", "labels": {"app": "x"}},
        "spec": {"nodeName": f"node-{host:05d}"},
        "status": {"phase": "Running", "podIP": str(subnet[2 + index // nodes])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=50000)
    parser.add_argument(
        "--in-memory", action="store_true", help="the pure path only, without a cluster"
    )
    add_apiserver_arguments(parser)
    args = parser.parse_args()
    if args.in_memory:
        in_memory(args)
    else:
        through_apiserver(args)


def in_memory(args: argparse.Namespace) -> None:

    tracemalloc.start()
    flannel = parse_equality_selector("app=flannel")
    nodes_index = {f"node-{i:05d}": [slim_node(node(i))] for i in range(args.nodes)}
    pods_index: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i in range(args.pods):
        slim = slim_pod(pod(i, args.nodes), flannel)
        assert slim is not None
        pods_index[slim["spec"]["nodeName"]].append(slim)
    net_conf = json.dumps({"Network": str(NETWORK), "Backend": {"Type": "vxlan"}})
    config_maps = {("kube-flannel", "kube-flannel-cfg"): [(net_conf,)]}
    ref = ConfigMapRef(("kube-flannel",), "kube-flannel-cfg", "net-conf.json")
    inputs_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()  # tracing would slow the timed stages down several times

    stages: dict[str, float] = {}
    started = time.perf_counter()
    taken = snapshot(
        nodes_index, pods_index, config_maps, ref=ref, node_selector=parse_equality_selector("")
    )
    stages["snapshot"] = time.perf_counter() - started
    started = time.perf_counter()
    report = build_report(
        taken.nodes,
        taken.net_conf_text,
        taken.pods,
        options=ReporterOptions(),
        now=datetime.now(UTC),
    )
    stages["build_report"] = time.perf_counter() - started
    started = time.perf_counter()
    desired = desired_reports(report, taken.net_conf_source)
    stages["render statuses"] = time.perf_counter() - started
    written = copy.deepcopy(desired.nodes)  # what the publisher remembers having written
    started = time.perf_counter()
    unchanged = sum(1 for name, status in written.items() if desired.nodes[name] == status)
    stages["unchanged check"] = time.perf_counter() - started
    started = time.perf_counter()
    change = diff(None, report.findings)
    FlannelMetricsRecorder().record_report(report)
    stages["transitions + metrics"] = time.perf_counter() - started

    print(f"{args.nodes} nodes, {args.pods} pods, {len(report.findings)} findings, "
          f"{len(change.raised)} transitions, {unchanged} reports unchanged")  # fmt: skip
    for stage, seconds in stages.items():
        print(f"  {stage:<24} {seconds:8.3f} s")
    print(f"  {'full reconcile':<24} {sum(stages.values()):8.3f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory: slim inputs {inputs_bytes / 2**20:.1f} MiB, max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
