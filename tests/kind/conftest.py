"""Fixtures for the kind tier: one kind cluster for the session, one namespace per test.

The cluster is the one ``podpilot-dev kind up`` makes (the user's path: flannel, the metrics
stack and podpilot installed by Helm); it is reused when it is already up and deleted at the
end otherwise (``PODPILOT_KEEP_CLUSTER=1`` keeps it). Every kubectl call names the cluster's
own kubeconfig, and the session refuses to run when that kubeconfig names any other context or
a server that is not on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl, fresh_namespace

from podpilot_dev import toolchain
from podpilot_dev.kind import cluster as kind_cluster
from podpilot_dev.kind import locations

KIND_CONTEXT = f"kind-{locations.CLUSTER_NAME}"
KUBECTL_TIMEOUT = 120


def refuse_foreign_kubeconfig(kubeconfig: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    context = config.get("current-context")
    servers = [entry["cluster"]["server"] for entry in config.get("clusters", [])]
    if context != KIND_CONTEXT or not all(
        re.match(r"https://127\.0\.0\.1:\d+$", server) for server in servers
    ):
        pytest.exit(
            f"refusing to run kind tests against {kubeconfig} (context {context!r}, servers "
            f"{servers}): only podpilot's kind cluster on 127.0.0.1 is allowed",
            returncode=3,
        )


@pytest.fixture(scope="session")
def kind() -> Iterator[Path]:
    """The kind cluster's kubeconfig: the cluster made (or reused) by ``kind up``."""
    reused = kind_cluster.status()[0]
    kubeconfig = kind_cluster.up()
    refuse_foreign_kubeconfig(kubeconfig)
    yield kubeconfig
    if not reused and os.environ.get("PODPILOT_KEEP_CLUSTER") != "1":
        kind_cluster.down()


def kubectl_runner(kubeconfig: Path) -> Kubectl:
    binary = str(toolchain.build_all(["k8s"])["kubectl"])

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, f"--kubeconfig={kubeconfig}", f"--context={KIND_CONTEXT}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def kubectl(kind: Path) -> Kubectl:
    return kubectl_runner(kind)


@pytest.fixture(scope="session")
def kubectl_json(kubectl: Kubectl) -> Callable[..., Any]:
    def get(*args: str) -> Any:
        return json.loads(kubectl(*args, "-o", "json").stdout)

    return get


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    with fresh_namespace(kubectl, request.node.name) as name:
        yield name
