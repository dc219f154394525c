"""``podpilot run``: the operator, with every enabled controller, in the foreground."""

from __future__ import annotations

import argparse
import logging

from podpilot.apimachinery.selectors import SelectorError
from podpilot.flannel.engine.selectors import parse_equality_selector
from podpilot.settings import CONTROLLERS, FlannelSettings, HpaSettings, OperatorSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--controllers",
        default=",".join(CONTROLLERS),
        help=f"comma-separated controllers to run (default: all of {', '.join(CONTROLLERS)})",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: the whole cluster",
    )
    parser.add_argument("--metrics-address", default="0.0.0.0")
    parser.add_argument("--metrics-port", type=int, default=9808)
    parser.add_argument("--health-address", default="0.0.0.0")
    parser.add_argument("--health-port", type=int, default=8080)
    parser.add_argument("--peering-name", default="podpilot")
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; the highest one acts (default: derived from the start time, "
        "so the oldest replica stays active and a new one waits as standby)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=60,
        help="seconds a replica's peering record stays valid; a standby takes over this long "
        "after the active replica stops renewing it",
    )
    parser.add_argument(
        "--standalone", action="store_true", help="no peering: assume this is the only replica"
    )
    parser.add_argument(
        "--prometheus-concurrency",
        type=int,
        default=8,
        help="PromQL queries in flight at once, over all Prometheus servers (default 8)",
    )
    hpa = parser.add_argument_group("HPA-compatible settings (kube-controller-manager's flags)")
    defaults = HpaSettings()
    hpa.add_argument(
        "--cpu-initialization-period", type=float, default=defaults.cpu_initialization_period
    )
    hpa.add_argument(
        "--initial-readiness-delay", type=float, default=defaults.initial_readiness_delay
    )
    hpa.add_argument("--tolerance", type=float, default=defaults.tolerance)
    hpa.add_argument(
        "--downscale-stabilization", type=float, default=defaults.downscale_stabilization
    )
    _add_flannel_arguments(parser)
    parser.add_argument("--verbose", "-v", action="store_true")


def start_time_priority() -> int:
    """A peering priority that is higher for older processes, unique per process.

    kopf pauses every operator that sees a peer of higher *or equal* priority, so replicas of
    one Deployment must not share a priority. Older wins, so a standby never preempts a
    healthy active replica; the random part breaks ties between replicas started together.
    """
    import random
    import time

    seconds_until_2100 = 4_102_444_800 - int(time.time())
    return seconds_until_2100 * 1000 + random.randrange(1000)


def settings_from(args: argparse.Namespace) -> OperatorSettings:
    controllers = frozenset(c.strip() for c in args.controllers.split(",") if c.strip())
    unknown = controllers - set(CONTROLLERS)
    if unknown:
        raise SystemExit(f"unknown controllers: {', '.join(sorted(unknown))}")
    return OperatorSettings(
        controllers=controllers,
        namespaces=tuple(args.namespace),
        metrics_address=args.metrics_address,
        metrics_port=args.metrics_port,
        health_address=args.health_address,
        health_port=args.health_port,
        peering_name=args.peering_name,
        peering_lifetime=args.peering_lifetime,
        peering_priority=args.priority if args.priority is not None else start_time_priority(),
        standalone=args.standalone,
        prometheus_concurrency=args.prometheus_concurrency,
        hpa=HpaSettings(
            cpu_initialization_period=args.cpu_initialization_period,
            initial_readiness_delay=args.initial_readiness_delay,
            tolerance=args.tolerance,
            downscale_stabilization=args.downscale_stabilization,
        ),
        flannel=_flannel_settings(args),
    )


def _add_flannel_arguments(parser: argparse.ArgumentParser) -> None:
    flannel = parser.add_argument_group("flannel reporter")
    defaults = FlannelSettings()
    flannel.add_argument(
        "--flannel-configmap-namespace",
        action="append",
        default=[],
        help="namespace of flannel's ConfigMap (repeatable, searched in order; default: "
        f"{', '.join(defaults.configmap_namespaces)})",
    )
    flannel.add_argument("--flannel-configmap-name", default=defaults.configmap_name)
    flannel.add_argument("--flannel-configmap-key", default=defaults.configmap_key)
    flannel.add_argument(
        "--flannel-annotation-prefix",
        default=None,
        help="flanneld's --kube-annotation-prefix (default: detected from the nodes)",
    )
    flannel.add_argument(
        "--flannel-node-selector",
        default=defaults.node_selector,
        help="label selector of the nodes to report on (default: all nodes)",
    )
    flannel.add_argument(
        "--flannel-pod-selector",
        default=defaults.pod_selector,
        help="label selector of flannel's DaemonSet pods",
    )
    flannel.add_argument(
        "--flannel-debounce",
        type=float,
        default=defaults.debounce,
        help="seconds to collect changes before one recompute",
    )
    flannel.add_argument(
        "--flannel-resync",
        type=float,
        default=defaults.resync,
        help="seconds between recomputes when nothing changes",
    )
    flannel.add_argument(
        "--flannel-network-report-name",
        default=defaults.network_report_name,
        help="name of the cluster-wide FlannelNetworkReport",
    )
    flannel.add_argument("--flannel-pod-cidr-grace", type=float, default=defaults.pod_cidr_grace)
    flannel.add_argument("--flannel-announce-grace", type=float, default=defaults.announce_grace)


def _flannel_settings(args: argparse.Namespace) -> FlannelSettings:
    defaults = FlannelSettings()
    for flag, selector in (
        ("--flannel-node-selector", args.flannel_node_selector),
        ("--flannel-pod-selector", args.flannel_pod_selector),
    ):
        # Checked here so a typo ends `podpilot run` with one line, before kopf starts.
        try:
            parse_equality_selector(selector)
        except SelectorError as error:
            raise SystemExit(f"{flag}: {error}") from None
    return FlannelSettings(
        configmap_namespaces=tuple(args.flannel_configmap_namespace)
        or defaults.configmap_namespaces,
        configmap_name=args.flannel_configmap_name,
        configmap_key=args.flannel_configmap_key,
        annotation_prefix=args.flannel_annotation_prefix or None,
        node_selector=args.flannel_node_selector,
        pod_selector=args.flannel_pod_selector,
        debounce=args.flannel_debounce,
        resync=args.flannel_resync,
        network_report_name=args.flannel_network_report_name,
        pod_cidr_grace=args.flannel_pod_cidr_grace,
        announce_grace=args.flannel_announce_grace,
    )


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    from podpilot.app import run_operator

    return run_operator(settings_from(args))


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
