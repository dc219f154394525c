"""Fixtures for tests against the dev cluster: one shared cluster, one namespace per test."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from tests.e2e.waiting import wait_until

from podpilot_dev import cluster as dev_cluster
from podpilot_dev.paths import STATE_DIR_ENV, state_root

DEV_CONTEXT = "podpilot-dev"


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def refuse_foreign_kubeconfig(kubeconfig: Path, expected_context: str, cluster: str) -> None:
    """End the session unless ``kubeconfig`` names ``expected_context`` and only 127.0.0.1."""
    config = yaml.safe_load(kubeconfig.read_text())
    context = config.get("current-context")
    servers = [entry["cluster"]["server"] for entry in config.get("clusters", [])]
    if context != expected_context or not all(
        re.match(r"https://127\.0\.0\.1:\d+$", server) for server in servers
    ):
        pytest.exit(
            f"refusing to run tests against {kubeconfig} (context {context!r}, servers "
            f"{servers}): only {cluster} on 127.0.0.1 is allowed",
            returncode=3,
        )


@functools.cache
def use_own_cluster_per_worker() -> None:
    """Under pytest-xdist each worker runs the tests it is given on a dev cluster of its own:
    its state directory is the usual one with the worker's name appended, set in this
    process's environment so that every ``podpilot-dev`` call and child process finds it.
    Once per process (cached), so that the name is appended once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:
        os.environ[STATE_DIR_ENV] = f"{state_root()}-{worker}"


WORKER_CLUSTERS_BEFORE = pytest.StashKey[set[Path]]()
WORKER_CLUSTER_DOWN_TIMEOUT = 300


def worker_cluster_directories() -> set[Path]:
    root = state_root()
    return {path for path in root.parent.glob(f"{root.name}-gw*") if path.is_dir()}


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        session.config.stash[WORKER_CLUSTERS_BEFORE] = worker_cluster_directories()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The xdist controller takes down every worker's cluster this session started that is
    still there: a worker that crashed never ran its ``cluster`` fixture's teardown, and its
    replacement (a new worker name) starts a cluster of its own."""
    config = session.config
    if hasattr(config, "workerinput") or os.environ.get("PODPILOT_KEEP_CLUSTER") == "1":
        return
    before = config.stash.get(WORKER_CLUSTERS_BEFORE, set())
    for directory in sorted(worker_cluster_directories() - before):
        sys.stderr.write(f"\ntaking down {directory}, left by a worker that did not finish\n")
        try:
            subprocess.run(
                [sys.executable, "-m", "podpilot_dev", "cluster", "down"],
                env={**os.environ, STATE_DIR_ENV: str(directory)},
                timeout=WORKER_CLUSTER_DOWN_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            sys.stderr.write(f"{directory}: not down after {WORKER_CLUSTER_DOWN_TIMEOUT} s\n")


@pytest.fixture(scope="session")
def cluster() -> Iterator[dev_cluster.ClusterState]:
    """The running dev cluster: reused when one is up, otherwise started for this session."""
    use_own_cluster_per_worker()
    existing = dev_cluster.ClusterState.load()
    reused = existing is not None and existing.ready and existing.all_alive()
    state = dev_cluster.up()
    refuse_foreign_kubeconfig(state.kubeconfig, DEV_CONTEXT, "the podpilot dev cluster")
    yield state
    if not reused and os.environ.get("PODPILOT_KEEP_CLUSTER") != "1":
        dev_cluster.down()


@pytest.fixture(scope="session")
def kubectl(cluster: dev_cluster.ClusterState) -> Kubectl:
    return kubectl_runner(cluster)


def kubectl_runner(cluster: dev_cluster.ClusterState) -> Kubectl:
    """kubectl against the dev cluster; a failure raises with its stderr unless check=False."""
    return kubectl_with(str(cluster.binaries["kubectl"]), f"--kubeconfig={cluster.kubeconfig}")


def kubectl_with(binary: str, *leading: str) -> Kubectl:
    """kubectl with ``leading`` arguments (kubeconfig, context) before each call's own."""

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, *leading, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def kubectl_json(kubectl: Kubectl) -> Callable[..., Any]:
    def get(*args: str) -> Any:
        return json.loads(kubectl(*args, "-o", "json").stdout)

    return get


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    with fresh_namespace(kubectl, request.node.name) as name:
        yield name


@contextlib.contextmanager
def fresh_namespace(kubectl: Kubectl, title: str) -> Iterator[str]:
    """A new e2e namespace named after ``title``, deleted after the block."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, "podpilot.io/e2e=true")
    # Pods are refused until the controller manager has created the namespace's default SA.
    wait_until(
        lambda: (
            kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0
        ),
        timeout=30,
        what=f"default ServiceAccount in {name}",
    )
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", check=False)


class OperatorProcess:
    """``podpilot run`` as a child process against the dev cluster, restartable by tests."""

    def __init__(
        self,
        cluster_state: dev_cluster.ClusterState,
        log_dir: Path,
        *,
        name: str = "operator",
        kubeconfig: Path | None = None,
        mode: Sequence[str] = ("--standalone",),
    ) -> None:
        """``mode``: the flags that say how it shares the work (default: the only replica);
        ``kubeconfig`` (default: the cluster's admin) gives it a client identity of its own."""
        from podpilot.commands.run import hpa_arguments
        from podpilot_dev.ports import free_port
        from podpilot_dev.wiring import dev_hpa_settings

        self.cluster = cluster_state
        self.kubeconfig = kubeconfig
        self.log_path = log_dir / f"{name}.log"
        self.metrics_port = free_port()
        self.health_port = free_port()
        # podpilot's command line: started as ``python -m podpilot``, or, when the environment
        # asks for a fault hook, as the test build that has them (``spawn``).
        self.command = [
            "run", *mode, "--verbose",
            "--metrics-address=127.0.0.1", f"--metrics-port={self.metrics_port}",
            "--health-address=127.0.0.1", f"--health-port={self.health_port}",
            *hpa_arguments(dev_hpa_settings()),
            # A test that restarts the operator waits for its first write, at the latest the
            # heartbeat: a minute here, not the default five.
            "--status-heartbeat=1m",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self.environment: dict[str, str] = {}  # added to this process's environment

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        self.spawn()
        self.wait_healthy()

    def spawn(self) -> None:
        """Start the process without waiting for it (``start_together`` starts several)."""
        from podpilot_dev.fault_hooks import VARIABLES

        kubeconfig = self.kubeconfig or self.cluster.kubeconfig
        environment = dict(os.environ, KUBECONFIG=str(kubeconfig), **self.environment)
        faulty = any(variable in self.environment for variable in VARIABLES)
        module = "podpilot_dev.operator_with_faults" if faulty else "podpilot"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )

    def wait_healthy(self) -> None:
        wait_until(self.healthy, timeout=60, what=f"the health endpoint of {self.log_path.stem}")

    def healthy(self) -> bool:
        import urllib.error
        import urllib.request

        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the operator exited; see {self.log_path}")
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, kill: bool = False) -> None:
        self.signal_stop(kill)
        self.wait_stopped()

    def signal_stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) without waiting (``stop_together`` stops several)."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @contextlib.contextmanager
    def restarted_with(
        self, environment: Mapping[str, str], flags: Sequence[str] = ()
    ) -> Iterator[None]:
        """Inside the block, the operator runs with ``environment`` added (a fault hook of
        ``podpilot_dev.fault_hooks``) and ``flags`` appended to its command line; after it,
        as before, even when it killed itself."""
        command = list(self.command)
        self.stop()
        self.environment = dict(environment)
        self.command = [*command, *flags]
        try:
            self.start()
            yield
        finally:
            self.stop()
            self.environment = {}
            self.command = command
            self.start()

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def service_account_kubeconfig(
    kubectl: Kubectl, admin: Path, namespace: str, account: str, target: Path
) -> Path:
    """A kubeconfig at ``target`` for the ServiceAccount ``account`` (a one-hour token): a
    process run with it has exactly that account's permissions."""
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    config = yaml.safe_load(admin.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    context["context"]["user"] = account
    config["contexts"] = [context]
    config["users"] = [{"name": account, "user": {"token": token}}]
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.fixture(scope="session")
def crds_installed(cluster: dev_cluster.ClusterState) -> None:
    from podpilot_dev.wiring import install_crds

    install_crds(cluster)


@pytest.fixture(scope="session")
def operator(
    cluster: dev_cluster.ClusterState,
    crds_installed: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator with all controllers, shared by the session; tests may restart it."""
    process = OperatorProcess(cluster, tmp_path_factory.mktemp("operator"))
    process.start()
    yield process
    process.stop()
