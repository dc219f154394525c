"""``podpilot run``: the operator, with every enabled controller, in the foreground."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from podpilot.apimachinery.leader_election import ElectionConfig, ElectionConfigError
from podpilot.apimachinery.selectors import SelectorError
from podpilot.app.logs import LOG_FORMATS
from podpilot.app.logs import configure as configure_logs
from podpilot.commands.conventions import (
    EXIT_INTERRUPTED,
    EXIT_STATUS,
    EXIT_USAGE,
    LARGEST_WHOLE_NUMBER,
    SMALLEST_WHOLE_NUMBER,
    CommandError,
    add_kubeconfig_arguments,
    bounded_timeout,
    finite_float,
    go_duration,
    go_duration_text,
    kubeconfig_selection,
    namespace_name,
    non_negative_number,
    number,
    seconds_or_go_duration,
    whole_number_within,
)
from podpilot.commands.ports import Listener, check_free, port_number
from podpilot.flannel.engine.selectors import parse_equality_selector
from podpilot.settings import (
    CONTROLLERS,
    FlannelSettings,
    HpaSettings,
    KubeconfigSelection,
    KubeletSettings,
    LeaderElectionSettings,
    OperatorSettings,
    PrometheusLimits,
)

if TYPE_CHECKING:  # app.hooks brings the API clients, which the other commands load lazily
    from podpilot.app.hooks import ProcessHooks

# A flag that sets the settings field of the same name (after the flag's prefix), defaulting to
# the settings' default: (field, type of the value, help).
_SettingFlag = tuple[str, Callable[[str], Any], str | None]
MAX_SHARDS = 64  # every replica runs one elector per shard, each a thread of the Lease pool
# The chart's bounds of peering.lifetime (values.schema.json): kopf renews a record 5-10 s
# before it expires, so a shorter one would lapse between renewals.
SHORTEST_PEERING_LIFETIME = 15
LONGEST_PEERING_LIFETIME = 3600


def positive_seconds(text: str) -> float:
    """A timeout in plain seconds (no Go duration), within ``bounded_timeout``'s bounds."""
    try:
        seconds = finite_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    return bounded_timeout(text, seconds)


def shard_count(text: str) -> int:
    """A whole number of shards from 1 to ``MAX_SHARDS``."""
    return whole_number_within(text, "a shard count", 1, MAX_SHARDS)


def peering_priority(text: str) -> int:
    """Any int64, negative included (below kopf's default of 0): kopf only compares them, in
    the peering object, where the API server keeps an int64."""
    return whole_number_within(
        text, "a peering priority", SMALLEST_WHOLE_NUMBER, LARGEST_WHOLE_NUMBER
    )


def peering_lifetime(text: str) -> int:
    """Seconds, from ``SHORTEST_PEERING_LIFETIME`` to ``LONGEST_PEERING_LIFETIME``."""
    return whole_number_within(
        text, "a peering lifetime", SHORTEST_PEERING_LIFETIME, LONGEST_PEERING_LIFETIME
    )


def worker_count(text: str) -> int:
    """A number of queries in flight, at least 1: with none, the Prometheus source would fail
    as kopf starts (a pool of no threads) or never query a server (a semaphore of 0)."""
    return whole_number_within(text, "a number of workers", 1, LARGEST_WHOLE_NUMBER)


def positive_limit(text: str) -> int:
    """A guardrail's largest allowed size, at least 1 (0 would allow no answer at all)."""
    return whole_number_within(text, "a limit", 1, LARGEST_WHOLE_NUMBER)


def _detected_if_empty(prefix: str) -> str | None:
    return prefix or None


_SERVING_FLAGS: tuple[_SettingFlag, ...] = (
    ("metrics_address", str, "address the Prometheus /metrics endpoint listens on"),
    ("metrics_port", port_number, "port of the /metrics endpoint"),
    ("health_address", str, "address the /healthz liveness endpoint listens on"),
    ("health_port", port_number, "port of the /healthz endpoint"),
    ("peering_name", str, "name of the ClusterKopfPeering object replicas peer through"),
)
_API_FLAGS: tuple[_SettingFlag, ...] = (
    (
        "api_timeout",
        positive_seconds,
        "seconds to wait for the API server's answer to one call before it fails (connecting: "
        "at most 5 s of it); watches have a longer bound of their own",
    ),
)
_AUTOSCALER_FLAGS: tuple[_SettingFlag, ...] = (
    (
        "status_heartbeat",
        go_duration,
        "the longest an Autoscaler's unchanged status goes unwritten (a Go duration): a status "
        "that changed is written at once; one in which only timestamps such as "
        "lastDecision.evaluatedAt moved is written again after half to all of this, spread "
        "per Autoscaler; 0 writes every evaluation",
    ),
)
# kube-controller-manager's --horizontal-pod-autoscaler-* flags that apply to podpilot: (the
# settings field, its value's type, help). The evaluation period is each Autoscaler's own
# (spec.evaluationPeriodSeconds), so --horizontal-pod-autoscaler-sync-period has no flag here.
_HPA_FLAGS: tuple[_SettingFlag, ...] = (
    (
        "cpu_initialization_period",
        go_duration,
        "how long after a pod starts its CPU samples may still be skipped (a Go duration)",
    ),
    (
        "initial_readiness_delay",
        go_duration,
        "how long after a pod starts a change of readiness still counts as initial (a Go duration)",
    ),
    (
        "tolerance",
        non_negative_number,
        "ratio of usage to target within which no scaling happens (a fraction: 0.1 is 10%%)",
    ),
    (
        "downscale_stabilization",
        go_duration,
        "window of past recommendations a scale-down takes the highest of (a Go duration); an "
        "Autoscaler's behavior.scaleDown.stabilizationWindowSeconds overrides it",
    ),
)
_HPA_PREFIX = "horizontal_pod_autoscaler_"
_FLANNEL_FLAGS: tuple[_SettingFlag, ...] = (
    ("configmap_name", str, "name of flannel's ConfigMap"),
    ("configmap_key", str, "key of flannel's net-conf.json in that ConfigMap"),
    (
        "annotation_prefix",
        _detected_if_empty,
        "flanneld's --kube-annotation-prefix (default: detected from the nodes)",
    ),
    ("node_selector", str, "label selector of the nodes to report on (default: all nodes)"),
    ("pod_selector", str, "label selector of flannel's DaemonSet pods"),
    ("debounce", number, "seconds to collect changes before one recompute"),
    ("resync", number, "seconds between recomputes when nothing changes"),
    ("network_report_name", str, "name of the cluster-wide FlannelNetworkReport"),
    (
        "pod_cidr_grace",
        number,
        "seconds a new node may go without spec.podCIDR before it is reported",
    ),
    (
        "announce_grace",
        number,
        "seconds a node may go without flannel's annotations before it is reported",
    ),
)
_FLANNEL_PREFIX = "flannel_"
_LEADER_ELECTION_FLAGS: tuple[_SettingFlag, ...] = (
    ("lease_name", str, "name of the Lease that decides which replica writes"),
    (
        "lease_duration",
        number,
        "seconds a standby waits, on its own clock, after the Lease last changed before taking "
        "it over (kube-controller-manager's --leader-elect-lease-duration)",
    ),
    (
        "renew_deadline",
        number,
        "seconds after its last successful renewal at which the leader stops acting "
        "(--leader-elect-renew-deadline)",
    ),
    (
        "retry_period",
        number,
        "seconds between attempts to acquire or renew (--leader-elect-retry-period)",
    ),
)
_LEADER_ELECTION_PREFIX = "leader_election_"


class DeprecatedAlias(argparse.Action):
    """An old flag name: sets the new flag's value and says, once, which name replaces it."""

    def __init__(self, *args: Any, replacement: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replacement = replacement

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(
            f"podpilot run: warning: {option_string} is deprecated, use {self.replacement}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def _flag(prefix: str, name: str) -> str:
    return "--" + (prefix + name).replace("_", "-")


def _add_setting_flags(
    group: argparse._ActionsContainer,
    flags: Sequence[_SettingFlag],
    defaults: object,
    prefix: str = "",
) -> None:
    for name, kind, help_text in flags:
        default = getattr(defaults, name)
        if kind is go_duration:
            help_text = f"{help_text} (default: {go_duration_text(default)})"
        group.add_argument(
            _flag(prefix, name),
            type=kind,
            default=default,
            help=help_text,
            dest=prefix + name,
            metavar=_METAVARS.get(kind),
        )


_METAVARS: dict[Callable[[str], Any], str] = {
    go_duration: "DURATION",
    number: "SECONDS",
    positive_seconds: "SECONDS",
    non_negative_number: "FRACTION",  # only the tolerance, a ratio
    port_number: "N",
}


def hpa_arguments(settings: HpaSettings) -> list[str]:
    """The command line that gives ``podpilot run`` these HPA settings."""
    arguments = []
    for name, kind, _ in _HPA_FLAGS:
        value = getattr(settings, name)
        text = go_duration_text(value) if kind is go_duration else f"{value:g}"
        arguments.append(f"{_flag(_HPA_PREFIX, name)}={text}")
    return arguments


def add_hpa_flags(group: argparse._ActionsContainer, names: Collection[str]) -> None:
    """The ``--horizontal-pod-autoscaler-*`` flags of the ``HpaSettings`` fields in ``names``,
    as ``podpilot run`` takes them (for the commands that replay decisions)."""
    chosen = [flag for flag in _HPA_FLAGS if flag[0] in names]
    _add_setting_flags(group, chosen, HpaSettings(), _HPA_PREFIX)


def hpa_settings_from(args: argparse.Namespace, names: Collection[str]) -> HpaSettings:
    """The ``HpaSettings`` that ``add_hpa_flags(group, names)``'s flags gave; the others keep
    their defaults."""
    return HpaSettings(**{name: getattr(args, _HPA_PREFIX + name) for name in names})


def _add_hpa_arguments(parser: argparse.ArgumentParser) -> None:
    hpa = parser.add_argument_group(
        "HPA-compatible settings (kube-controller-manager's flags; give them the values your "
        "cluster's controller manager uses)"
    )
    _add_setting_flags(hpa, _HPA_FLAGS, HpaSettings(), _HPA_PREFIX)
    for name, kind, _ in _HPA_FLAGS:
        hpa.add_argument(
            _flag("", name),
            action=DeprecatedAlias,
            replacement=_flag(_HPA_PREFIX, name),
            dest=_HPA_PREFIX + name,
            type=seconds_or_go_duration if kind is go_duration else kind,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def _setting_values(
    args: argparse.Namespace, flags: Sequence[_SettingFlag], prefix: str = ""
) -> dict[str, Any]:
    return {name: getattr(args, prefix + name) for name, _, _ in flags}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS.replace(
        "credentials could be loaded, or the input was invalid\n",
        "credentials could be loaded, the input was invalid, or the address of\n"
        "       /metrics or /healthz cannot be bound (a port in use)\n",
    ).replace(
        f"  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)\n",
        f"  {EXIT_INTERRUPTED}  interrupted (Ctrl-C) before the operator started; once it "
        "runs, it\n       stops gracefully on Ctrl-C as on SIGTERM, with status 0\n",
    )
    parser.add_argument(
        "--controllers",
        default=",".join(CONTROLLERS),
        help=f"comma-separated controllers to run, of {', '.join(CONTROLLERS)}",
    )
    add_kubeconfig_arguments(parser)
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        type=namespace_name,
        help="watch only this namespace (repeatable) (default: the whole cluster)",
    )
    _add_setting_flags(parser, _SERVING_FLAGS, OperatorSettings())
    _add_setting_flags(parser, _API_FLAGS, OperatorSettings())
    _add_setting_flags(parser, _AUTOSCALER_FLAGS, OperatorSettings())
    parser.add_argument(
        "--priority",
        type=peering_priority,
        metavar="N",
        default=None,
        help="peering priority; the highest one acts (default: derived from the start time, "
        "so the oldest replica stays active and a new one waits as standby)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=peering_lifetime,
        metavar="SECONDS",
        default=OperatorSettings.peering_lifetime,
        help="seconds a replica's peering record stays valid; a standby takes over this long "
        f"after the active replica stops renewing it ({SHORTEST_PEERING_LIFETIME} to "
        f"{LONGEST_PEERING_LIFETIME})",
    )
    parser.add_argument(
        "--standalone", action="store_true", help="no peering: assume this is the only replica"
    )
    parser.add_argument(
        "--prometheus-concurrency",
        type=worker_count,
        metavar="N",
        default=OperatorSettings.prometheus_concurrency,
        help="PromQL queries in flight at once, over all Prometheus servers",
    )
    _add_prometheus_limit_arguments(parser)
    _add_leader_election_arguments(parser)
    _add_hpa_arguments(parser)
    _add_flannel_arguments(parser)
    _add_kubelet_arguments(parser)
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="log at DEBUG, kopf's report of every handler run included",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text lines, or one JSON object per line for log pipelines",
    )


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
        raise CommandError(
            f"--controllers: unknown controllers: {', '.join(sorted(unknown))}", EXIT_USAGE
        )
    return OperatorSettings(
        controllers=controllers,
        kubeconfig=kubeconfig_selection(args),
        namespaces=tuple(args.namespace),
        **_setting_values(args, _SERVING_FLAGS),
        **_setting_values(args, _API_FLAGS),
        **_setting_values(args, _AUTOSCALER_FLAGS),
        peering_lifetime=args.peering_lifetime,
        peering_priority=args.priority if args.priority is not None else start_time_priority(),
        standalone=args.standalone,
        prometheus_concurrency=args.prometheus_concurrency,
        prometheus_limits=_prometheus_limits(args),
        hpa=HpaSettings(**_setting_values(args, _HPA_FLAGS, _HPA_PREFIX)),
        flannel=_flannel_settings(args),
        kubelet=KubeletSettings(
            ca_file=args.kubelet_certificate_authority, insecure_tls=args.kubelet_insecure_tls
        ),
        leader_election=_leader_election_settings(args),
    )


def _add_kubelet_arguments(parser: argparse.ArgumentParser) -> None:
    kubelet = parser.add_argument_group(
        "kubelets, read directly by the emptyDir audit (metrics-server's flags)"
    )
    kubelet.add_argument(
        "--kubelet-certificate-authority",
        metavar="PATH",
        default=None,
        help="PEM bundle of the CA(s) that sign kubelet serving certificates (default: the CA "
        "the operator trusts for the API server)",
    )
    kubelet.add_argument(
        "--kubelet-insecure-tls",
        action="store_true",
        help="do not verify kubelet serving certificates: anyone answering on a node's address "
        "receives the operator's token (test clusters only)",
    )


def _add_prometheus_limit_arguments(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group(
        "Prometheus guardrails (apply to every PrometheusServer, see docs/security.md)"
    )
    defaults = PrometheusLimits()
    limits.add_argument(
        "--prometheus-max-response-bytes",
        type=positive_limit,
        default=defaults.max_response_bytes,
        help="refuse an answer larger than this, while reading it (default 10 MiB)",
    )
    limits.add_argument(
        "--prometheus-max-series",
        type=positive_limit,
        default=defaults.max_series,
        help=f"refuse a query result with more series (default {defaults.max_series})",
    )
    limits.add_argument(
        "--prometheus-max-query-seconds",
        type=positive_seconds,
        default=defaults.max_query_seconds,
        help="total seconds one query may take, however slowly the server answers; caps each "
        f"server's timeoutSeconds (default {defaults.max_query_seconds:g})",
    )
    limits.add_argument(
        "--prometheus-per-server-concurrency",
        type=worker_count,
        default=defaults.per_server_concurrency,
        help="queries in flight to one PrometheusServer, so a slow one cannot take every "
        f"worker (default {defaults.per_server_concurrency})",
    )
    limits.add_argument(
        "--prometheus-per-namespace-concurrency",
        type=worker_count,
        default=defaults.per_namespace_concurrency,
        help="queries in flight to the PrometheusServers of one namespace together, so a "
        "tenant with many slow servers cannot take every worker "
        f"(default {defaults.per_namespace_concurrency})",
    )
    limits.add_argument(
        "--prometheus-allowed-url",
        action="append",
        default=[],
        metavar="PREFIX_OR_HOST",
        help="a URL prefix (https://prom.monitoring.svc:9090/) or host name PrometheusServers "
        "may use; repeatable; none given: any URL",
    )


def _prometheus_limits(args: argparse.Namespace) -> PrometheusLimits:
    return PrometheusLimits(
        max_response_bytes=args.prometheus_max_response_bytes,
        max_series=args.prometheus_max_series,
        max_query_seconds=args.prometheus_max_query_seconds,
        per_server_concurrency=args.prometheus_per_server_concurrency,
        per_namespace_concurrency=args.prometheus_per_namespace_concurrency,
        allowed_urls=tuple(url.strip() for url in args.prometheus_allowed_url if url.strip()),
    )


def _add_leader_election_arguments(parser: argparse.ArgumentParser) -> None:
    election = parser.add_argument_group("leader election (a coordination.k8s.io/v1 Lease)")
    election.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write only while holding the Lease (default: on; always off with --standalone)",
    )
    election.add_argument(
        "--leader-election-namespace",
        default=None,
        help="namespace of the Lease (default: this pod's namespace, from $POD_NAMESPACE or the "
        "service account's namespace file, else 'default')",
    )
    defaults = LeaderElectionSettings()
    _add_setting_flags(election, _LEADER_ELECTION_FLAGS, defaults, _LEADER_ELECTION_PREFIX)
    election.add_argument(
        "--shards",
        type=shard_count,
        metavar="N",
        default=defaults.shards,
        help="split the Autoscalers into this many shards, each held through a Lease of its "
        "own (<lease-name>-shard-<i>), so that the replicas share them; 1: the leader "
        "evaluates every Autoscaler (default: %(default)s; needs leader election)",
    )


def _leader_election_settings(args: argparse.Namespace) -> LeaderElectionSettings:
    values = _setting_values(args, _LEADER_ELECTION_FLAGS, _LEADER_ELECTION_PREFIX)
    try:
        ElectionConfig(values["lease_duration"], values["renew_deadline"], values["retry_period"])
    except ElectionConfigError as error:
        raise CommandError(f"--leader-election-*: {error}", EXIT_USAGE) from None
    enabled = args.leader_election and not args.standalone
    if args.shards > 1 and not enabled:
        raise CommandError(
            "--shards needs leader election (not --standalone, --no-leader-election)", EXIT_USAGE
        )
    return LeaderElectionSettings(
        enabled=enabled,
        shards=args.shards,
        namespace=args.leader_election_namespace or own_namespace(),
        identity=election_identity(),
        **values,
    )


def own_namespace() -> str:
    """The pod's namespace: the downward API's $POD_NAMESPACE, else the service account's."""
    from podpilot.kube.clients import ServiceAccount

    return ServiceAccount().namespace()


def election_identity() -> str:
    """The pod's name ($POD_NAME, else the host name) and a random suffix: a restarted
    container is a new candidate, never mistaken for the holder it replaced."""
    name = os.environ.get("POD_NAME", "").strip() or socket.gethostname()
    return f"{name}_{uuid.uuid4().hex[:10]}"


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
    _add_setting_flags(flannel, _FLANNEL_FLAGS, defaults, _FLANNEL_PREFIX)


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
            raise CommandError(f"{flag}: {error}", EXIT_USAGE) from None
    return FlannelSettings(
        configmap_namespaces=tuple(args.flannel_configmap_namespace)
        or defaults.configmap_namespaces,
        **_setting_values(args, _FLANNEL_FLAGS, _FLANNEL_PREFIX),
    )


def run(args: argparse.Namespace, hooks: ProcessHooks | None = None) -> int:
    """``podpilot run``; ``hooks`` only from a test build of the process (``app/hooks.py``)."""
    settings = settings_from(args)
    check_credentials(settings.kubeconfig)
    check_free(
        [
            Listener(
                "--metrics-address",
                "--metrics-port",
                settings.metrics_address,
                settings.metrics_port,
            ),
            Listener(
                "--health-address", "--health-port", settings.health_address, settings.health_port
            ),
        ]
    )
    configure_logs(args.verbose, args.log_format)
    from podpilot.app import run_operator

    return run_operator(settings, hooks)


def check_credentials(kubeconfig: KubeconfigSelection) -> None:
    """Fail in one line before kopf starts when the credentials cannot be loaded: kopf would
    retry its login for ever. An exec plugin that does not answer is stopped after
    ``EXEC_PLUGIN_TIMEOUT`` and fails the same way."""
    import kubernetes

    from podpilot.kube.clients import CredentialsError, load_credentials

    try:
        load_credentials(kubeconfig, kubernetes.client.Configuration())
    except CredentialsError as error:
        raise CommandError(str(error)) from None
