"""README's main command, ``scripts/dev demo``, as a fresh machine runs it: on kind.

``scripts/dev demo`` installs what is missing and then runs ``podpilot-dev demo``; this test runs
that last step the same way, with no KUBECONFIG and a home without ``~/.kube/config``, so the
demo picks kind itself (reusing the session's cluster and podpilot's Helm release), applies the
demo workload under real CPU load and streams the operator's decisions. ``web`` must scale up
and the decision must be printed in the terminal.
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
from tests.e2e.conftest import Kubectl
from tests.e2e.waiting import wait_until
from tests.kind.incluster import spec_replicas

from podpilot_dev.kind import demo
from podpilot_dev.paths import cache_root

APPLIED_LINE = f"Demo applied in namespace {demo.NAMESPACE}"
# ``podpilot_dev`` with Ctrl-C's default meaning. A process started in the background by a
# non-interactive shell (as CI starts this run) ignores SIGINT, and so would the demo, which
# then sat out the whole 30 s of the teardown below before being killed.
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'podpilot_dev'; runpy.run_module('podpilot_dev', run_name='__main__')"
)
DECISION = f"{demo.NAMESPACE}/web: scaled "


@pytest.fixture
def demo_output(kind: Path, kubectl: Kubectl, tmp_path: Path) -> Iterator[Callable[[], str]]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    # A home of its own hides any ~/.kube/config; the cache (and the kind cluster's state in
    # it) stays where the session's cluster has it, so the demo reuses that cluster.
    environment.update(HOME=str(tmp_path / "home"), PODPILOT_CACHE_DIR=str(cache_root()))
    log_path = tmp_path / "demo.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", AS_IN_A_TERMINAL, "demo"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    def output() -> str:
        text = log_path.read_text(errors="replace")
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}:\n{text}")
        return text

    try:
        yield output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        kubectl("delete", "namespace", demo.NAMESPACE, "--wait=false", check=False)


def test_the_demo_scales_web_under_real_load_and_prints_the_decision(
    demo_output: Callable[[], str], kubectl_json: Callable[..., Any]
) -> None:
    wait_until(lambda: APPLIED_LINE in demo_output(), timeout=300, what="the demo applied")
    line = wait_until(
        lambda: next((ln for ln in demo_output().splitlines() if DECISION in ln), None),
        timeout=180,
        what=f"a '{DECISION}' line in the demo's output",
    )
    assert spec_replicas(kubectl_json, demo.NAMESPACE, "web") > 1, line
