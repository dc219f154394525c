"""Bring the dev cluster up and down: every component a local process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from podpilot_dev import audit, filelock, manifests, pki, ports, processes, realnodes, toolchain
from podpilot_dev.paths import cache_root, state_root
from podpilot_dev.processes import ComponentFailedError, HealthCheck, RunningProcess

STATE_FILE = "state.json"
DEFAULT_KWOK_NODES = 3
DEFAULT_REAL_NODES = 2  # real kubelets (realnodes.py); 0 keeps the cluster KWOK-only
# A start takes 10-20 s once the binaries are built; a cold build of them inside ``up`` is
# the longest another start may have to wait for.
UP_LOCK_TIMEOUT = 1800.0
PROMETHEUS_BINARY = "prometheus"

# The built-in HPA is the reference our Autoscaler is compared with; its timings are shortened
# so tests do not wait minutes, and recorded in the state so the operator can use the same.
HPA_SETTINGS: dict[str, str] = {
    "horizontal-pod-autoscaler-sync-period": "5s",
    "horizontal-pod-autoscaler-downscale-stabilization": "30s",
    "horizontal-pod-autoscaler-cpu-initialization-period": "30s",
    "horizontal-pod-autoscaler-initial-readiness-delay": "5s",
    "horizontal-pod-autoscaler-tolerance": "0.1",
}
FEATURE_GATES = "HPAScaleToZero=true"
# Benchmarks measure the built-in HPA controller alone: with this set, the main controller
# manager runs without it and ``start_hpa_controller`` runs it in a process of its own.
SEPARATE_HPA_ENV = "PODPILOT_DEV_SEPARATE_HPA"
HPA_CONTROLLER = "horizontal-pod-autoscaler-controller"
METRICS_RESOLUTION = "10s"
# metrics-server's resolution and its wait for one node, when the cluster is started with
# $PODPILOT_DEV_METRICS_RESOLUTION set (the benchmarks at thousands of KWOK pods: KWOK builds a
# node's answer of 900 pods in seconds, and a rate over 10 s is then off by up to a quarter,
# enough to move an HPA out of its tolerance; over 30 s the same delay is a few percent).
METRICS_RESOLUTION_ENV = "PODPILOT_DEV_METRICS_RESOLUTION"


def metrics_server_timing(resolution_seconds: str | None) -> list[str]:
    """metrics-server's ``--metric-resolution`` and ``--kubelet-request-timeout``: 10 s and 9 s
    unless another resolution is asked for. KWOK serves every fake node's metrics from one
    process: with 15,000 pods on 2 busy cores a node's answer took more than 5 s (the former
    timeout), and every pod of that node lost its metrics."""
    if not resolution_seconds:
        return [f"--metric-resolution={METRICS_RESOLUTION}", "--kubelet-request-timeout=9s"]
    seconds = int(resolution_seconds)
    # metrics-server refuses a timeout above 90 % of the resolution.
    return [f"--metric-resolution={seconds}s", f"--kubelet-request-timeout={seconds * 9 // 10}s"]


ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "metrics-server",
    "test-exporter",
    "prometheus",
    "prometheus-adapter",
)


class ClusterError(RuntimeError):
    """The dev cluster cannot be brought up; the message says why and where to look."""


STARTUP_ERRORS: tuple[type[Exception], ...] = (
    ComponentFailedError,
    ClusterError,
    toolchain.ToolchainError,
    *realnodes.ERRORS,
)


@dataclass
class ClusterState:
    """Everything needed to use, inspect and tear down a running dev cluster."""

    directory: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, RunningProcess] = field(default_factory=dict)
    binaries: dict[str, str] = field(default_factory=dict)
    kwok_nodes: list[str] = field(default_factory=list)
    ready: bool = False
    separate_hpa: bool = False

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def bin_dir(self) -> Path:
        return self.directory / "bin"

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def pki(self) -> pki.Pki:
        return pki.Pki(self.directory / "pki")

    @property
    def audit_log(self) -> Path:
        """kube-apiserver's audit log (``audit.policy``: the writes the fault tests count)."""
        return self.log_dir / "audit.log"

    @property
    def audit_policy(self) -> Path:
        return self.directory / "audit-policy.yaml"

    @property
    def identities_dir(self) -> Path:
        """Client certificates' kubeconfigs, one per identity (``client_kubeconfig``)."""
        return self.directory / "identities"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['test-exporter']}"

    @property
    def prometheus_targets_dir(self) -> Path:
        return self.directory / "prometheus" / "targets"

    def save(self) -> None:
        data = {
            "ports": self.ports,
            "processes": {name: proc.to_dict() for name, proc in self.processes.items()},
            "binaries": self.binaries,
            "kwok_nodes": self.kwok_nodes,
            "ready": self.ready,
            "separate_hpa": self.separate_hpa,
            "hpa_settings": HPA_SETTINGS,
            "kubeconfig": str(self.kubeconfig),
            "prometheus_url": self.prometheus_url if "prometheus" in self.ports else None,
            "exporter_url": self.exporter_url if "test-exporter" in self.ports else None,
        }
        temporary = self.directory / (STATE_FILE + ".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        temporary.replace(self.directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path | None = None) -> ClusterState | None:
        directory = directory or state_root()
        path = directory / STATE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            directory=directory,
            ports=data["ports"],
            processes={
                name: RunningProcess.from_dict(proc) for name, proc in data["processes"].items()
            },
            binaries=data["binaries"],
            kwok_nodes=data["kwok_nodes"],
            ready=data["ready"],
            separate_hpa=data.get("separate_hpa", False),
        )

    def all_alive(self) -> bool:
        return bool(self.processes) and all(
            processes.is_alive(proc) for proc in self.processes.values()
        )


Reporter = Callable[[str], None]


def _say(message: str) -> None:
    print(f"dev-cluster: {message}", file=sys.stderr, flush=True)


class Bringup:
    """The ordered start of every component; each step waits for health before the next."""

    def __init__(self, state: ClusterState, report: Reporter) -> None:
        self.state = state
        self.report = report

    def binary(self, name: str) -> str:
        return self.state.binaries[name]

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            [self.binary("kubectl"), "--kubeconfig", str(self.state.kubeconfig), *args],
            input=input_text,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def apply(self, documents: Sequence[Mapping[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(list(documents)))

    def launch(
        self,
        name: str,
        command: Sequence[str],
        health: HealthCheck | None,
        timeout: float = 120.0,
        **options: Any,
    ) -> None:
        started = time.monotonic()
        self.report(f"starting {name}")
        proc = processes.start(
            name,
            command,
            self.state.log_dir,
            port=self.state.ports.get(name),
            health=health,
            **options,
        )
        self.state.processes[name] = proc
        self.state.save()
        processes.wait_healthy(proc, timeout=timeout)
        self.report(f"{name} healthy in {time.monotonic() - started:.1f}s (pid {proc.pid})")

    def admin_health(self, url: str) -> HealthCheck:
        tls = self.state.pki
        return HealthCheck(url, str(tls.ca_cert), str(tls.cert("admin")), str(tls.key("admin")))

    def insecure_health(self, url: str) -> HealthCheck:
        tls = self.state.pki
        return HealthCheck(url, None, str(tls.cert("admin")), str(tls.key("admin")), insecure=True)

    # --- the components, in order -----------------------------------------------------------

    def etcd(self) -> None:
        port, peer = self.state.ports["etcd"], self.state.ports["etcd-peer"]
        data = self.state.directory / "etcd"
        self.launch(
            "etcd",
            [
                self.binary("etcd"),
                "--name=node0",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{port}",
                f"--advertise-client-urls=http://127.0.0.1:{port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=node0=http://127.0.0.1:{peer}",
                "--listen-metrics-urls=",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=8589934592",
                "--unsafe-no-fsync=true",
            ],
            HealthCheck(f"http://127.0.0.1:{port}/health"),
        )

    def apiserver(self) -> None:
        tls = self.state.pki
        self.state.log_dir.mkdir(parents=True, exist_ok=True)
        self.state.audit_policy.write_text(audit.policy())
        port = self.state.ports["kube-apiserver"]
        self.launch(
            "kube-apiserver",
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.state.ports['etcd']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={tls.cert('apiserver')}",
                f"--tls-private-key-file={tls.key('apiserver')}",
                f"--client-ca-file={tls.ca_cert}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-signing-key-file={tls.service_account_key}",
                f"--service-account-key-file={tls.service_account_public_key}",
                "--authorization-mode=Node,RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
                f"--proxy-client-cert-file={tls.cert('front-proxy-client')}",
                f"--proxy-client-key-file={tls.key('front-proxy-client')}",
                f"--requestheader-client-ca-file={tls.ca_cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--allow-privileged=true",
                # Real nodes: the apiserver proxies to kubelets by the address the dev cluster
                # gave them, as a client the kubelets accept (realnodes.py).
                f"--kubelet-client-certificate={tls.cert('admin')}",
                f"--kubelet-client-key={tls.key('admin')}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--feature-gates={FEATURE_GATES}",
                f"--cert-dir={self.state.directory / 'apiserver-certs'}",
                *audit.apiserver_flags(self.state.audit_policy, self.state.audit_log),
            ],
            self.admin_health(f"https://127.0.0.1:{port}/readyz"),
            timeout=180,
        )

    def controller_manager(self) -> None:
        tls = self.state.pki
        hpa_flags = [f"--{flag}={value}" for flag, value in HPA_SETTINGS.items()]
        without_hpa = [f"--controllers=*,-{HPA_CONTROLLER}"] if self.state.separate_hpa else []
        self.launch(
            "kube-controller-manager",
            [
                *self._controller_manager_base("kube-controller-manager", "kcm-certs"),
                f"--root-ca-file={tls.ca_cert}",
                f"--service-account-private-key-file={tls.service_account_key}",
                "--use-service-account-credentials=false",
                "--node-monitor-period=25s",
                "--node-monitor-grace-period=3m20s",
                *without_hpa,
                *hpa_flags,
            ],
            self.insecure_health(
                f"https://127.0.0.1:{self.state.ports['kube-controller-manager']}/healthz"
            ),
        )

    def _controller_manager_base(self, name: str, cert_dir: str) -> list[str]:
        kubeconfig = str(self.state.kubeconfig)
        return [
            self.binary("kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.state.ports[name]}",
            "--leader-elect=false",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            f"--cert-dir={self.state.directory / cert_dir}",
            f"--feature-gates={FEATURE_GATES}",
        ]

    def hpa_controller(self, settings: Mapping[str, str]) -> None:
        """kube-controller-manager running only the HPA controller, with these HPA flags."""
        name = HPA_CONTROLLER
        self.state.ports.setdefault(name, ports.free_port())
        self.launch(
            name,
            [
                *self._controller_manager_base(name, "hpa-controller-certs"),
                f"--controllers={HPA_CONTROLLER}",
                *[f"--{flag}={value}" for flag, value in settings.items()],
            ],
            self.insecure_health(f"https://127.0.0.1:{self.state.ports[name]}/healthz"),
        )

    def scheduler(self) -> None:
        kubeconfig = str(self.state.kubeconfig)
        port = self.state.ports["kube-scheduler"]
        self.launch(
            "kube-scheduler",
            [
                self.binary("kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--leader-elect=false",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                f"--cert-dir={self.state.directory / 'scheduler-certs'}",
            ],
            self.insecure_health(f"https://127.0.0.1:{port}/healthz"),
        )

    def wait_for_default_service_account(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.kubectl("get", "serviceaccount", "default", "-n", "default")
                return
            except ClusterError:
                time.sleep(0.5)
        raise ClusterError("the controller manager never created the default ServiceAccount")

    def kwok(self, node_count: int) -> None:
        port = self.state.ports["kwok"]
        module = Path(_go_env("GOMODCACHE")) / "sigs.k8s.io" / "kwok@v0.8.0" / "kustomize" / "stage"
        stages = [
            module / "node" / "fast" / "node-initialize.yaml",
            module / "node" / "heartbeat-with-lease" / "node-heartbeat-with-lease.yaml",
            module / "pod" / "fast" / "pod-ready.yaml",
            module / "pod" / "fast" / "pod-complete.yaml",
            module / "pod" / "fast" / "pod-delete.yaml",
        ]
        metric = module.parent / "metrics" / "resource" / "metrics-resource.yaml"
        missing = [str(path) for path in [*stages, metric] if not path.exists()]
        if missing:
            raise ClusterError(f"kwok stage files missing from the Go module cache: {missing}")
        config = self.state.directory / "kwok.yaml"
        config.write_text(manifests.kwok_configuration([*stages, metric]))
        # kwok also reads ~/.kwok/kwok.yaml; an empty HOME keeps a stray file out.
        home = self.state.directory / "kwok-home"
        home.mkdir(exist_ok=True)
        self.launch(
            "kwok",
            [
                self.binary("kwok"),
                f"--kubeconfig={self.state.kubeconfig}",
                f"--config={config}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                f"--node-port={port}",
                f"--server-address=127.0.0.1:{port}",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.0/16",
            ],
            HealthCheck(f"http://127.0.0.1:{port}/healthz"),
            environment={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        names = [f"kwok-node-{index}" for index in range(node_count)]
        self.state.kwok_nodes = names
        self.state.save()
        if not names:
            return  # --kwok-nodes 0: KWOK runs for nodes created later (the scale benchmarks)
        self.apply([manifests.kwok_node(name) for name in names])
        self.kubectl(
            "wait", "--for=condition=Ready", "--timeout=90s", *[f"node/{n}" for n in names]
        )
        self.report(f"{node_count} KWOK nodes Ready")

    def metrics_server(self) -> None:
        tls = self.state.pki
        port = self.state.ports["metrics-server"]
        kubeconfig = str(self.state.kubeconfig)
        self.launch(
            "metrics-server",
            [
                self.binary("metrics-server"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={tls.cert('serving')}",
                f"--tls-private-key-file={tls.key('serving')}",
                "--kubelet-use-node-status-port",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-insecure-tls",
                *metrics_server_timing(os.environ.get(METRICS_RESOLUTION_ENV)),
            ],
            # /readyz and /livez fail until some node runs pods with usage; /healthz says the
            # server is up, and the APIService's Available condition is waited for next.
            self.admin_health(f"https://127.0.0.1:{port}/healthz"),
        )
        self.register_api_services(
            "kube-system", "metrics-server", port, [("metrics.k8s.io", "v1beta1")]
        )

    def test_exporter(self) -> None:
        port = self.state.ports["test-exporter"]
        self.launch(
            "test-exporter",
            [sys.executable, "-m", "podpilot_dev.exporter", f"--port={port}"],
            HealthCheck(f"http://127.0.0.1:{port}/healthz"),
        )

    def prometheus(self) -> None:
        executable = shutil.which(PROMETHEUS_BINARY)
        if executable is None:
            raise ClusterError(
                "prometheus is not installed; install Debian's package with "
                "'apt-get install --no-install-recommends prometheus' (scripts/dev does it)"
            )
        port = self.state.ports["prometheus"]
        directory = self.state.directory / "prometheus"
        self.state.prometheus_targets_dir.mkdir(parents=True, exist_ok=True)
        config = directory / "prometheus.yml"
        config.write_text(
            manifests.prometheus_configuration(
                self.state.ports["test-exporter"], self.state.prometheus_targets_dir
            )
        )
        self.launch(
            "prometheus",
            [
                executable,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=2h",
                "--web.enable-lifecycle",
            ],
            HealthCheck(f"http://127.0.0.1:{port}/-/ready"),
        )

    def prometheus_adapter(self) -> None:
        tls = self.state.pki
        port = self.state.ports["prometheus-adapter"]
        kubeconfig = str(self.state.kubeconfig)
        config = self.state.directory / "prometheus-adapter.yaml"
        config.write_text(manifests.prometheus_adapter_configuration())
        self.launch(
            "prometheus-adapter",
            [
                self.binary("prometheus-adapter"),
                f"--prometheus-url={self.state.prometheus_url}/",
                f"--config={config}",
                "--metrics-relist-interval=5s",
                "--metrics-max-age=10s",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={tls.cert('serving')}",
                f"--tls-private-key-file={tls.key('serving')}",
            ],
            self.admin_health(f"https://127.0.0.1:{port}/readyz"),
        )
        self.register_api_services(
            "kube-system",
            "prometheus-adapter",
            port,
            [
                ("custom.metrics.k8s.io", "v1beta2"),
                ("custom.metrics.k8s.io", "v1beta1"),
                ("external.metrics.k8s.io", "v1beta1"),
            ],
        )

    def real_nodes(self, count: int) -> None:
        if count > 0:
            realnodes.start(self, count)

    def register_api_services(
        self, namespace: str, service: str, port: int, versions: Sequence[tuple[str, str]]
    ) -> None:
        documents = [manifests.loopback_service(namespace, service)]
        documents += [manifests.api_service(g, v, namespace, service, port) for g, v in versions]
        self.apply(documents)
        names = [f"apiservice/{version}.{group}" for group, version in versions]
        self.kubectl("wait", "--for=condition=Available", "--timeout=90s", *names)
        self.report(f"{', '.join(n.split('/')[1] for n in names)} Available")


def _go_env(name: str) -> str:
    return subprocess.run(
        [toolchain.go_executable(), "env", name], check=True, capture_output=True, text=True
    ).stdout.strip()


def _link_binaries(state: ClusterState) -> None:
    state.bin_dir.mkdir(parents=True, exist_ok=True)
    for name, path in state.binaries.items():
        link = state.bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(path)


def up(
    kwok_nodes: int = DEFAULT_KWOK_NODES,
    report: Reporter = _say,
    real_nodes: int = DEFAULT_REAL_NODES,
    separate_hpa: bool | None = None,
) -> ClusterState:
    """Build what is missing, start every component in order and return the running state.

    ``separate_hpa`` (default: ``$PODPILOT_DEV_SEPARATE_HPA`` is ``1``) leaves the HPA
    controller out of the main controller manager; ``start_hpa_controller`` starts it alone.
    """
    if separate_hpa is None:
        separate_hpa = os.environ.get(SEPARATE_HPA_ENV) == "1"
    existing = ClusterState.load()
    if existing is not None and existing.ready and existing.all_alive():
        report(f"already running (state in {existing.directory})")
        return existing
    if existing is not None:
        report("cleaning up a previous cluster that is not fully running")
        down(report)
    # Clusters with their own state directories (one per e2e worker) start one at a time: each
    # picks its bridge's /24 among the host's routes, where another's bridge appears only once
    # that one's real nodes are up.
    try:
        with filelock.exclusive(cache_root() / "dev-cluster-up.lock", UP_LOCK_TIMEOUT):
            return _start(kwok_nodes, report, real_nodes, separate_hpa)
    except filelock.LockTimeoutError as error:
        raise ClusterError(f"another dev cluster is starting: {error}") from None


def _start(kwok_nodes: int, report: Reporter, real_nodes: int, separate_hpa: bool) -> ClusterState:
    binaries = toolchain.build_all(report=lambda line: report(f"build {line}"))
    directory = state_root()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    state = ClusterState(
        directory,
        binaries={name: str(path) for name, path in binaries.items()},
        separate_hpa=separate_hpa,
    )
    state.ports = ports.free_ports([*ORDER, "etcd-peer"])
    _link_binaries(state)
    state.save()
    # Real nodes dial the apiserver at the gateway of a bridge chosen now, before the PKI.
    gateway = [realnodes.plan_network(directory).gateway] if real_nodes > 0 else []
    tls = pki.create(state.directory / "pki", extra_server_ips=gateway)
    state.kubeconfig.write_text(
        manifests.kubeconfig(
            f"https://127.0.0.1:{state.ports['kube-apiserver']}",
            tls.ca_cert,
            tls.cert("admin"),
            tls.key("admin"),
        )
    )
    state.save()
    steps = Bringup(state, report)
    started = time.monotonic()
    try:
        steps.etcd()
        steps.apiserver()
        steps.controller_manager()
        steps.scheduler()
        steps.wait_for_default_service_account()
        steps.kwok(kwok_nodes)
        steps.metrics_server()
        steps.test_exporter()
        steps.prometheus()
        steps.prometheus_adapter()
        steps.real_nodes(real_nodes)
    except STARTUP_ERRORS:
        report(f"start-up failed; stopping what was started (logs kept in {state.log_dir})")
        _stop_processes(state, report)
        realnodes.teardown(state.directory, report)
        raise
    state.ready = True
    state.save()
    report(f"up in {time.monotonic() - started:.0f}s; {env_text(state).strip()}")
    return state


def start_hpa_controller(
    state: ClusterState, settings: Mapping[str, str], report: Reporter = _say
) -> RunningProcess:
    """Start the HPA controller in its own kube-controller-manager, tracked so ``down`` stops it.

    ``settings`` are the ``horizontal-pod-autoscaler-*`` flags without their dashes; only for a
    cluster started with ``separate_hpa``, or two HPA controllers would act on every HPA.
    """
    if not state.separate_hpa:
        raise ClusterError(
            f"the main controller manager runs the HPA controller; start the cluster with "
            f"{SEPARATE_HPA_ENV}=1 to run it alone"
        )
    Bringup(state, report).hpa_controller(settings)
    return state.processes[HPA_CONTROLLER]


def stop_hpa_controller(state: ClusterState, report: Reporter = _say) -> None:
    proc = state.processes.pop(HPA_CONTROLLER, None)
    if proc is not None and processes.stop(proc):
        report(f"stopped {HPA_CONTROLLER} (pid {proc.pid})")
    state.save()


def relaunch(
    state: ClusterState, name: str, timeout: float = 120.0, report: Reporter = _say
) -> RunningProcess:
    """Start component ``name`` again exactly as ``up`` started it (the command line,
    environment and log recorded in the state), stopping it first if it still runs; record
    the new PID in the state file and wait until it is healthy.

    The fault tests kill components and bring them back with this. Objects the component's
    start registered in the API (APIServices, nodes) outlive it, and its port is in its
    command line, so nothing else needs doing.
    """
    previous = state.processes.get(name)
    if previous is None:
        raise ClusterError(f"{name} was never started in this dev cluster")
    if processes.stop(previous):
        report(f"stopped {name} (pid {previous.pid}) before relaunching it")
    started = time.monotonic()
    proc = processes.relaunch(previous)
    state.processes[name] = proc
    state.save()
    processes.wait_healthy(proc, timeout=timeout)
    report(f"{name} relaunched, healthy in {time.monotonic() - started:.1f}s (pid {proc.pid})")
    return proc


def ensure_audit_log(state: ClusterState, report: Reporter = _say) -> None:
    """Make kube-apiserver write ``state.audit_log`` under today's ``audit.policy()``: a cluster
    started before the audit log existed, or under an older policy, gets its apiserver
    relaunched once with the audit flags added (and recorded, so a later ``relaunch`` keeps
    them) and the policy written anew."""
    previous = state.processes["kube-apiserver"]
    logging = any(part.startswith("--audit-log-path=") for part in previous.command)
    policy = audit.policy()
    if logging and state.audit_policy.exists() and state.audit_policy.read_text() == policy:
        return
    report("kube-apiserver writes no audit log under this policy yet; relaunching it with one")
    state.log_dir.mkdir(parents=True, exist_ok=True)
    state.audit_policy.write_text(policy)
    if not logging:
        flags = audit.apiserver_flags(state.audit_policy, state.audit_log)
        state.processes["kube-apiserver"] = replace(previous, command=(*previous.command, *flags))
    relaunch(state, "kube-apiserver", timeout=180, report=report)


def client_kubeconfig(
    state: ClusterState, user: str, server: str | None = None, groups: Sequence[str] = ()
) -> Path:
    """A kubeconfig for a client certificate of its own (CN ``user``), so the audit log's
    ``user.username`` tells this client apart. ``groups`` default to the admin's
    (``system:masters``): authorized like the kubeconfig the operator uses in the tests.
    ``server`` (default: the apiserver) may be a relay in front of it on 127.0.0.1."""
    tls = state.pki
    name = f"identity-{user}"
    if not tls.cert(name).exists():
        pki.issue_client(tls, name, user, groups or [pki.ADMIN_GROUP])
    state.identities_dir.mkdir(parents=True, exist_ok=True)
    path = state.identities_dir / f"{user}-{_port_of(server) if server else 'direct'}.kubeconfig"
    server = server or f"https://127.0.0.1:{state.ports['kube-apiserver']}"
    path.write_text(
        manifests.kubeconfig(server, tls.ca_cert, tls.cert(name), tls.key(name), user=user)
    )
    return path


def _port_of(server: str) -> str:
    return server.rsplit(":", 1)[1]


def _stop_processes(state: ClusterState, report: Reporter) -> None:
    for name in reversed([*ORDER, *[n for n in state.processes if n not in ORDER]]):
        proc = state.processes.get(name)
        if proc is not None and processes.stop(proc):
            report(f"stopped {name} (pid {proc.pid})")


def down(report: Reporter = _say) -> None:
    """Stop exactly the processes ``up`` started and remove the state; safe to repeat."""
    state = ClusterState.load()
    if state is None:
        report("no dev cluster state; nothing to stop")
        return
    if state.ready and "kube-apiserver" in state.processes and state.all_alive():
        # Aggregated APIs whose backend vanishes make discovery partial; unregister first.
        Bringup(state, report).kubectl(
            "delete",
            "apiservice",
            "--ignore-not-found",
            "--wait=false",
            "v1beta1.metrics.k8s.io",
            "v1beta1.custom.metrics.k8s.io",
            "v1beta2.custom.metrics.k8s.io",
            "v1beta1.external.metrics.k8s.io",
        )
    _stop_processes(state, report)
    realnodes.teardown(state.directory, report)
    shutil.rmtree(state.directory, ignore_errors=True)
    report(f"removed {state.directory}")


def env_text(state: ClusterState) -> str:
    return (
        f"export KUBECONFIG={state.kubeconfig}\n"
        f"export PATH={state.bin_dir}:$PATH\n"
        f"export PODPILOT_DEV_PROMETHEUS_URL={state.prometheus_url}\n"
        f"export PODPILOT_DEV_EXPORTER_URL={state.exporter_url}\n"
    )


def status_rows(state: ClusterState) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name in [*ORDER, *[n for n in state.processes if n not in ORDER]]:
        proc = state.processes.get(name)
        if proc is None:
            rows.append((name, "-", "-", "not started", "-"))
            continue
        alive = processes.is_alive(proc)
        if not alive:
            health = "exited"
        elif proc.health is None:
            health = "running"
        else:
            healthy, detail = processes.probe(proc.health)
            health = "healthy" if healthy else f"unhealthy: {detail}"
        rows.append((name, str(proc.pid), str(proc.port or "-"), health, proc.log))
    return rows
