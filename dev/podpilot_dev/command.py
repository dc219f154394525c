"""``podpilot-dev cluster up | down | status | env | logs | build | install``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podpilot_dev import cluster, toolchain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="build what is missing and start the cluster")
    up.add_argument(
        "--kwok-nodes", type=int, default=cluster.DEFAULT_KWOK_NODES, help="simulated nodes"
    )
    up.add_argument(
        "--real-nodes",
        type=int,
        default=cluster.DEFAULT_REAL_NODES,
        help="real kubelet nodes (containerd, runc, flannel) in network namespaces; 0 for none",
    )
    actions.add_parser("down", help="stop every process 'up' started and remove its state")
    actions.add_parser("status", help="show each component, its PID, port, health and log")
    actions.add_parser("env", help="print the KUBECONFIG and PATH exports")
    logs = actions.add_parser("logs", help="print a component's log (or list the logs)")
    logs.add_argument("component", nargs="?")
    logs.add_argument("--lines", type=int, default=60)
    actions.add_parser("build", help="only build (or find cached) the binaries")
    install = actions.add_parser(
        "install",
        help="build the operator image, import it into the real nodes and helm install the "
        "chart so the operator runs as a pod on a real node",
    )
    install.add_argument("--release", default="podpilot")
    install.add_argument("--namespace", default="podpilot", help="created, enforce=restricted")
    install.add_argument("--replicas", type=int, default=1, help="operator pods (peering)")


def _running_state() -> cluster.ClusterState:
    state = cluster.ClusterState.load()
    if state is None:
        raise SystemExit("no dev cluster is running; start one with 'podpilot-dev cluster up'")
    return state


def run(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except cluster.STARTUP_ERRORS as error:
        print(f"dev-cluster: error: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.action == "up":
        cluster.up(kwok_nodes=args.kwok_nodes, real_nodes=args.real_nodes)
    elif args.action == "down":
        cluster.down()
    elif args.action == "build":
        for name, path in sorted(toolchain.build_all().items()):
            print(f"{name:26} {path}")
    elif args.action == "install":
        from podpilot_dev import install

        try:
            install.install(
                _running_state(),
                release=args.release,
                namespace=args.namespace,
                replicas=args.replicas,
            )
        except install.INSTALL_ERRORS as error:
            print(f"dev-cluster install: error: {error}", file=sys.stderr)
            return 1
    elif args.action == "env":
        print(cluster.env_text(_running_state()), end="")
    elif args.action == "status":
        state = _running_state()
        print(f"{'COMPONENT':24} {'PID':>8} {'PORT':>6}  {'HEALTH':28} LOG")
        for name, pid, port, health, log in cluster.status_rows(state):
            print(f"{name:24} {pid:>8} {port:>6}  {health:28} {log}")
        print(f"\nkubeconfig: {state.kubeconfig}   ready: {state.ready}")
        return 0 if state.ready and state.all_alive() else 1
    elif args.action == "logs":
        state = _running_state()
        if args.component is None:
            for path in sorted(state.log_dir.glob("*.log")):
                print(path)
            return 0
        path = Path(state.log_dir / f"{args.component}.log")
        if not path.exists():
            raise SystemExit(f"no log for {args.component!r}; try 'podpilot-dev cluster logs'")
        print("\n".join(path.read_text(errors="replace").splitlines()[-args.lines :]))
    return 0
