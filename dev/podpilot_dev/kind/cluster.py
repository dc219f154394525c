"""The kind cluster ``podpilot``: create (or reuse), delete, show.

kind always gets ``--kubeconfig`` (under ``kind_state()``), so ``~/.kube/config`` is never
written, and the cluster runs on podman configured by ``podman.environment()``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from podpilot_dev import toolchain
from podpilot_dev.kind import locations, nodeimage, podman, release, stack
from podpilot_dev.kind.steps import KindError, Reporter, run, say, timed
from podpilot_dev.paths import repo_root

CREATE_TIMEOUT = 600.0
DELETE_TIMEOUT = 300.0
APISERVER_TIMEOUT = 180.0
KUBECTL_TIMEOUT = 30.0
START_TIMEOUT = 120.0
NODE_LABEL = f"io.x-k8s.kind.cluster={locations.CLUSTER_NAME}"


def config_file() -> Path:
    return repo_root() / "kind-config.yaml"


def _kind() -> str:
    binaries = toolchain.build_all(["kind"], components=toolchain.KIND_COMPONENTS)
    return str(binaries["kind"])


def _helm() -> str:
    return str(toolchain.build_all(["helm"])["helm"])


def kubectl_binary() -> str:
    return str(toolchain.build_all(["k8s"])["kubectl"])


def exists(kind: str) -> bool:
    clusters = run([kind, "get", "clusters"], timeout=60, env=podman.environment())
    return locations.CLUSTER_NAME in clusters.split()


def create_command(kind: str, image: str, kubeconfig: Path, config: Path) -> list[str]:
    return [
        kind,
        "create",
        "cluster",
        f"--name={locations.CLUSTER_NAME}",
        f"--image={image}",
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
    ]


def kubectl(*arguments: str, timeout: float = KUBECTL_TIMEOUT) -> str:
    return run([kubectl_binary(), f"--kubeconfig={locations.kubeconfig()}", *arguments], timeout)


def wait_for_apiserver(report: Reporter, timeout: float = APISERVER_TIMEOUT) -> None:
    command = [
        kubectl_binary(),
        f"--kubeconfig={locations.kubeconfig()}",
        "get",
        "--raw",
        "/readyz",
    ]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            last = "kubectl timed out"
            continue
        if result.returncode == 0 and result.stdout.strip() == "ok":
            return
        last = (result.stderr or result.stdout).strip()
        time.sleep(1)
    raise KindError(f"the kind apiserver was not ready in {timeout:.0f}s: {last}")


def node_containers(*filters: str, field: str = "{{.Names}}") -> list[str]:
    arguments = ["ps", "--all", "--filter", f"label={NODE_LABEL}"]
    for extra in filters:
        arguments += ["--filter", extra]
    return podman.run([*arguments, "--format", field]).stdout.split()


def start_stopped_nodes(report: Reporter) -> None:
    """Node containers stop with the machine; a reused cluster needs them running."""
    images = sorted(set(node_containers(field="{{.Image}}")))
    report(f"its node image: {', '.join(images)} ('kind down' then 'kind up' to rebuild)")
    running = set(node_containers("status=running"))
    stopped = [name for name in node_containers() if name not in running]
    if stopped:
        report(f"starting stopped nodes: {' '.join(stopped)}")
        podman.run(["start", *stopped], timeout=START_TIMEOUT)


def _reused(kind: str, kubeconfig: Path, report: Reporter) -> bool:
    """Take up the existing cluster; one a create left half-made (interrupted before its
    control plane wrote a kubeconfig) is deleted instead, to be created anew."""
    report(f"reusing the kind cluster {locations.CLUSTER_NAME!r}")
    start_stopped_nodes(report)
    try:
        run(
            [
                kind,
                "export",
                "kubeconfig",
                f"--name={locations.CLUSTER_NAME}",
                f"--kubeconfig={kubeconfig}",
            ],
            timeout=60,
            env=podman.environment(),
        )
    except KindError as error:
        report(f"the kind cluster has no kubeconfig (an interrupted create?): {error}")
        down(report)
        return False
    return True


def up(report: Reporter = say) -> Path:
    """Build or reuse the node image, create or reuse the cluster; return the kubeconfig."""
    kind = _kind()
    kubeconfig = locations.kubeconfig()
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    if not (exists(kind) and _reused(kind, kubeconfig, report)):
        image = nodeimage.build(report)
        with timed(report, f"kind create cluster {locations.CLUSTER_NAME!r} (3 nodes)"):
            run(
                create_command(kind, image.reference, kubeconfig, config_file()),
                timeout=CREATE_TIMEOUT,
                env=podman.environment(),
            )
    with timed(report, "waiting for the apiserver"):
        wait_for_apiserver(report)
    kubectl_command = [kubectl_binary(), f"--kubeconfig={kubeconfig}"]
    nodes = node_containers()
    stack.install(kind, kubectl_command, nodes, report)
    release.install(kind, kubectl_command, _helm(), nodes, report)
    report(f"ready: export KUBECONFIG={kubeconfig}")
    return kubeconfig


def down(report: Reporter = say) -> None:
    kind = _kind()
    kubeconfig = locations.kubeconfig()
    if not exists(kind):
        report(f"no kind cluster {locations.CLUSTER_NAME!r}")
    else:
        with timed(report, f"kind delete cluster {locations.CLUSTER_NAME!r}"):
            run(
                [
                    kind,
                    "delete",
                    "cluster",
                    f"--name={locations.CLUSTER_NAME}",
                    f"--kubeconfig={kubeconfig}",
                ],
                timeout=DELETE_TIMEOUT,
                env=podman.environment(),
            )
    kubeconfig.unlink(missing_ok=True)


def status() -> tuple[bool, str]:
    """Whether the cluster exists and answers, and its nodes (or why not)."""
    if not exists(_kind()):
        return False, f"no kind cluster {locations.CLUSTER_NAME!r}; start it with 'kind up'"
    if not locations.kubeconfig().exists():
        return False, f"cluster exists but {locations.kubeconfig()} is missing; run 'kind up'"
    nodes = kubectl("get", "nodes", "-o", "wide")
    return True, f"{nodes}\nkubeconfig: {locations.kubeconfig()}"
