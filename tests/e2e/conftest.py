"""Fixtures for tests against the dev cluster: one shared cluster, one namespace per test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from tests.e2e.waiting import wait_until

from podpilot.devcluster import cluster as dev_cluster

DEV_CONTEXT = "podpilot-dev"


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def _refuse_foreign_kubeconfig(kubeconfig: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    context = config.get("current-context")
    servers = [entry["cluster"]["server"] for entry in config.get("clusters", [])]
    if context != DEV_CONTEXT or not all(
        re.match(r"https://127\.0\.0\.1:\d+$", server) for server in servers
    ):
        pytest.exit(
            f"refusing to run e2e tests against {kubeconfig} (context {context!r}, servers "
            f"{servers}): only the podpilot dev cluster on 127.0.0.1 is allowed",
            returncode=3,
        )


@pytest.fixture(scope="session")
def cluster() -> Iterator[dev_cluster.ClusterState]:
    """The running dev cluster: reused when one is up, otherwise started for this session."""
    existing = dev_cluster.ClusterState.load()
    reused = existing is not None and existing.ready and existing.all_alive()
    state = dev_cluster.up()
    _refuse_foreign_kubeconfig(state.kubeconfig)
    yield state
    if not reused and os.environ.get("PODPILOT_KEEP_CLUSTER") != "1":
        dev_cluster.down()


@pytest.fixture(scope="session")
def kubectl(cluster: dev_cluster.ClusterState) -> Kubectl:
    binary = cluster.binaries["kubectl"]

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, "--kubeconfig", str(cluster.kubeconfig), *args],
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
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
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
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)
