"""Operator-wide settings: one frozen object, built from the command line or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CONTROLLERS = ("autoscaler", "emptydir", "flannel")
MIB = 1024 * 1024
STATUS_HEARTBEAT_SECONDS = 300.0
"""The longest an unchanged Autoscaler status goes unwritten, by default (--status-heartbeat)."""


@dataclass(frozen=True)
class KubeconfigSelection:
    """``--kubeconfig`` and ``--context`` as given (``None``: the environment's defaults)."""

    paths: str | None = None
    context: str | None = None

    def search_path(self) -> str:
        """The files to merge: ``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``."""
        # expanduser, not Path.home(): without $HOME and a passwd entry (an arbitrary user ID
        # in a pod) it keeps "~", a file that is not there, where Path.home() raises.
        return self.paths or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")

    def explicit(self) -> bool:
        """Whether a kubeconfig was asked for, so in-cluster credentials must not be used."""
        return self.paths is not None or self.context is not None


@dataclass(frozen=True)
class HpaSettings:
    """The knobs kube-controller-manager exposes for its HPA controller, with its defaults.

    podpilot reads them the same way so that an Autoscaler decides exactly as the built-in
    HPA of the same cluster would.
    """

    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0
    tolerance: float = 0.1
    downscale_stabilization: float = 300.0


@dataclass(frozen=True)
class FlannelSettings:
    """Where the flannel reporter finds flannel's configuration, and how often it recomputes."""

    # Searched in order; the first that holds the ConfigMap wins.
    configmap_namespaces: tuple[str, ...] = ("kube-flannel", "kube-system")
    configmap_name: str = "kube-flannel-cfg"
    configmap_key: str = "net-conf.json"
    annotation_prefix: str | None = None  # None: detect from the nodes
    node_selector: str = ""  # label selector; nodes outside it are not reported at all
    pod_selector: str = "app=flannel"  # flannel's DaemonSet pods
    debounce: float = 5.0  # changes are collected this long before one recompute
    resync: float = 60.0  # recompute at least this often: grace periods expire without events
    # Several reporters with disjoint node selectors need one cluster report each.
    network_report_name: str = "cluster"
    pod_cidr_grace: float = 120.0
    announce_grace: float = 300.0


@dataclass(frozen=True)
class KubeletSettings:
    """How the emptyDir audit reaches kubelets directly (metrics-server's ``--kubelet-*`` flags).

    Attributes:
        ca_file: PEM bundle of the CA(s) that sign kubelet serving certificates; ``None``: the
            CA bundle of the operator's API credentials (in cluster, the ServiceAccount's
            ``ca.crt``).
        insecure_tls: Do not verify kubelet serving certificates at all: whoever answers on a
            node's address then receives the operator's token. For test clusters only.
    """

    ca_file: str | None = None
    insecure_tls: bool = False


@dataclass(frozen=True)
class LeaderElectionSettings:
    """The Lease that decides which replica writes (kube-controller-manager's ``--leader-elect*``
    flags and client-go's default durations)."""

    enabled: bool = True
    lease_name: str = "podpilot-leader"
    namespace: str = "default"
    identity: str = ""  # the pod's name and a random suffix, unique per process
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # Above 1: the Autoscalers are split into this many shards, each held through a Lease of
    # its own (``<lease_name>-shard-<i>``), so that several replicas evaluate at once; the
    # other controllers still act only on the leader Lease (``kube/shards.py``).
    shards: int = 1


@dataclass(frozen=True)
class PrometheusLimits:
    """What any ``PrometheusServer`` may cost, whoever created it (docs/security.md)."""

    max_response_bytes: int = 10 * MIB
    max_series: int = 10_000
    max_query_seconds: float = 30.0  # caps each server's own timeoutSeconds
    per_server_concurrency: int = 2
    per_namespace_concurrency: int = 4  # all the servers of one namespace (one tenant) together
    # URL prefixes (``https://prom.monitoring.svc:9090/``) or bare host names; empty: any URL.
    allowed_urls: tuple[str, ...] = ()


DEFAULT_PROMETHEUS_LIMITS = PrometheusLimits()


@dataclass(frozen=True)
class OperatorSettings:
    """Everything the controllers need to know about how this process was started."""

    controllers: frozenset[str] = frozenset(CONTROLLERS)
    # --kubeconfig (files joined by os.pathsep, merged as kubectl merges) and --context;
    # neither: $KUBECONFIG, else ~/.kube/config, else in-cluster credentials (client-go's order).
    kubeconfig: KubeconfigSelection = field(default_factory=KubeconfigSelection)
    namespaces: tuple[str, ...] = ()  # empty: the whole cluster
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 9808
    health_address: str = "0.0.0.0"
    health_port: int = 8080
    max_concurrent_api_calls: int = 16
    api_timeout: float = 30.0  # read timeout of one API call, seconds (connect: at most 5 s)
    peering_name: str = "podpilot"
    peering_priority: int = 0
    peering_lifetime: int = 60
    standalone: bool = False
    hpa: HpaSettings = field(default_factory=HpaSettings)
    resource_metrics_max_age: float = 5.0
    prometheus_concurrency: int = 8  # worker threads for PromQL queries, all servers together
    prometheus_limits: PrometheusLimits = field(default_factory=PrometheusLimits)
    status_heartbeat: float = STATUS_HEARTBEAT_SECONDS
    failure_backoff_base: float = 5.0
    failure_backoff_max: float = 300.0
    retry_rate_per_second: float = 10.0
    retry_burst: int = 100
    flannel: FlannelSettings = field(default_factory=FlannelSettings)
    kubelet: KubeletSettings = field(default_factory=KubeletSettings)
    # Off when standalone: the only replica needs no Lease.
    leader_election: LeaderElectionSettings = field(
        default_factory=lambda: LeaderElectionSettings(enabled=False)
    )

    def enabled(self, controller: str) -> bool:
        return controller in self.controllers
