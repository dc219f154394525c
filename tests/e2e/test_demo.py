"""The demo on the dev cluster, ``scripts/dev demo --dev-cluster``, as a fresh machine runs it
(README's main command, the demo on kind, is tests/kind/test_demo.py).

``scripts/dev demo --dev-cluster`` installs what is missing and then runs ``podpilot-dev demo
--dev-cluster``; this test runs that last step the same way: no KUBECONFIG and a home without
``~/.kube/config``, so the demo picks the dev cluster itself (reusing the session's), applies
the demo workload and runs the operator in the foreground. Raising the simulated load as the
demo's own instructions say must scale ``web`` up, and the decision must be printed in the
terminal.

The session's operator watches every namespace and would be a second writer of ``web``, so it
is stopped for this test and started again afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import set_usage, spec_replicas, wait_ready

from podpilot_dev import cluster as dev_cluster
from podpilot_dev.paths import STATE_DIR_ENV, cache_root, state_root
from podpilot_dev.ports import free_port

DEMO_NAMESPACE = "podpilot-demo"
APPLIED_LINE = "Demo applied in namespace podpilot-demo"
DECISION_PREFIX = "podpilot-demo/web: "


class Demo:
    def __init__(self, log_path: Path, home: Path) -> None:
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
        }
        # A home of its own hides any ~/.kube/config; the cache and the cluster's state stay
        # where the session's cluster has them, so the demo reuses that cluster.
        environment.update(
            {
                "HOME": str(home),
                "PODPILOT_CACHE_DIR": str(cache_root()),
                STATE_DIR_ENV: str(state_root()),
            }
        )
        self.log_path = log_path
        command = [
            sys.executable, "-m", "podpilot_dev", "demo", "--dev-cluster",
            f"--metrics-port={free_port()}", f"--health-port={free_port()}",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment
            )

    def output(self) -> str:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the demo exited with {self.process.returncode}:\n{self.output_text()}"
            )
        return self.output_text()

    def output_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture
def demo(
    cluster: dev_cluster.ClusterState,
    kubectl: Kubectl,
    operator: OperatorProcess,
    tmp_path: Path,
) -> Iterator[Demo]:
    operator.stop()
    kubectl("delete", "namespace", DEMO_NAMESPACE, "--ignore-not-found", "--wait=true")
    home = tmp_path / "home"
    home.mkdir()
    running = Demo(tmp_path / "demo.log", home)
    try:
        yield running
    finally:
        running.stop()
        kubectl("delete", "namespace", DEMO_NAMESPACE, "--wait=false", check=False)
        operator.start()


def test_the_demo_applies_its_workload_and_streams_a_scale_up(
    demo: Demo, kubectl: Kubectl, kubectl_json: Callable[..., Any]
) -> None:
    wait_until(lambda: APPLIED_LINE in demo.output(), timeout=120, what="the demo's workload")
    wait_ready(kubectl_json, DEMO_NAMESPACE, "web", 2)

    set_usage(kubectl, DEMO_NAMESPACE, "web", cpu="150m")  # 150 % of the request, target 50 %

    wait_until(
        lambda: spec_replicas(kubectl_json, DEMO_NAMESPACE, "web") > 2,
        timeout=90,
        what="the demo's Autoscaler to scale web up under the raised load",
    )
    wait_until(
        lambda: DECISION_PREFIX in demo.output(),
        timeout=15,
        what=f"a decision line {DECISION_PREFIX!r}... in the demo's output",
    )
    decisions = [line for line in demo.output().splitlines() if DECISION_PREFIX in line]
    assert any(f"{DECISION_PREFIX}scaled " in line for line in decisions), decisions
    assert demo.stop() in (0, -signal.SIGINT, 130), demo.output_text()[-2000:]
