"""``podpilot-dev``: the development tools of a source checkout, never part of the operator.

``podpilot-dev cluster ACTION``: the local dev cluster (up, down, status, env, logs, build,
install).
``podpilot-dev kind ACTION``: a real kind cluster on podman with a locally built node image
(up, down, status, build).
``podpilot-dev demo``: the main job. Unless another cluster is configured: the kind cluster
with podpilot installed by Helm, a demo workload under real CPU load, and the operator's
decisions streaming in the terminal. ``podpilot-dev demo --dev-cluster [ARGS]``: the dev
cluster, the CRDs, a demo workload on simulated nodes and ``podpilot run ARGS`` in the
foreground (also what happens, without the workload, when another cluster is configured).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from podpilot.commands import run as operator_run
    from podpilot_dev import command
    from podpilot_dev.kind import command as kind_command

    parser = argparse.ArgumentParser(
        prog="podpilot-dev",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cluster = sub.add_parser("cluster", help="build and run the local dev cluster")
    command.add_arguments(cluster)
    cluster.set_defaults(handler=command.run)
    kind = sub.add_parser("kind", help="a real kind cluster on podman (node image built here)")
    kind_command.add_arguments(kind)
    kind.set_defaults(handler=kind_command.run)
    demo = sub.add_parser(
        "demo",
        help="kind cluster with podpilot by Helm (unless a cluster is configured), a demo "
        "workload under real CPU load, the decisions streaming",
        description="With --dev-cluster, or a cluster configured, it runs the operator here and "
        "takes every option of 'podpilot run'.",
    )
    demo.add_argument(
        "--dev-cluster",
        action="store_true",
        help="the local-process dev cluster and simulated load instead of kind",
    )
    operator_run.add_arguments(demo)
    demo.set_defaults(handler=run_demo)
    return parser


def no_cluster_configured() -> bool:
    """No kubeconfig and no in-cluster credentials: the dev cluster is the one to use.

    Checked without importing the kubernetes client, which fixes its default kubeconfig path
    at import time, before the dev cluster's KUBECONFIG is set.
    """
    in_cluster = (
        "KUBERNETES_SERVICE_HOST" in os.environ
        and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
    )
    return (
        "KUBECONFIG" not in os.environ
        and not in_cluster
        and not (Path.home() / ".kube" / "config").exists()
    )


def run_demo(args: argparse.Namespace) -> int:
    from podpilot.app.logs import configure as configure_logs
    from podpilot.commands import run as operator_run
    from podpilot.commands.conventions import CommandError

    if no_cluster_configured() and not args.dev_cluster:
        from podpilot_dev.kind.command import ERRORS
        from podpilot_dev.kind.demo import run_demo as run_kind_demo

        try:
            return run_kind_demo()
        except ERRORS as error:
            print(f"demo: error: {error}", file=sys.stderr)
            return 1
    configure_logs(args.verbose, args.log_format)
    try:
        settings = operator_run.settings_from(args)
    except CommandError as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return error.exit_status
    if no_cluster_configured():
        from podpilot_dev.wiring import prepare_dev_cluster

        settings = prepare_dev_cluster(settings, demo=True)
    else:
        print(
            "a cluster is configured, so the demo workload (examples/demo.yaml, for the dev "
            "cluster's simulated nodes) is not applied; running the operator against it",
            file=sys.stderr,
        )
    from podpilot.app import run_operator

    return run_operator(settings)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
