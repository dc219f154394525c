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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Kubectl, fresh_namespace, kubectl_with, refuse_foreign_kubeconfig

from podpilot_dev import toolchain
from podpilot_dev.kind import cluster as kind_cluster
from podpilot_dev.kind import locations
from podpilot_dev.kind.release import NAMESPACE as OPERATOR_NAMESPACE

KIND_CONTEXT = f"kind-{locations.CLUSTER_NAME}"
OPERATOR_LOG_LINES = 300
PROBE_LINE = re.compile(r"aiohttp\.access|kopf\.activities\.probe")


@pytest.fixture(scope="session")
def kind() -> Iterator[Path]:
    """The kind cluster's kubeconfig: the cluster made (or reused) by ``kind up``."""
    reused = kind_cluster.status()[0]
    kubeconfig = kind_cluster.up()
    refuse_foreign_kubeconfig(kubeconfig, KIND_CONTEXT, "podpilot's kind cluster")
    yield kubeconfig
    if not reused and os.environ.get("PODPILOT_KEEP_CLUSTER") != "1":
        kind_cluster.down()


@pytest.fixture(scope="session")
def kubectl(kind: Path) -> Kubectl:
    binary = str(toolchain.build_all(["k8s"])["kubectl"])
    return kubectl_with(binary, f"--kubeconfig={kind}", f"--context={KIND_CONTEXT}")


@pytest.fixture(scope="session")
def kubectl_json(kubectl: Kubectl) -> Callable[..., Any]:
    def get(*args: str) -> Any:
        return json.loads(kubectl(*args, "-o", "json").stdout)

    return get


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: Kubectl) -> Iterator[str]:
    with fresh_namespace(kubectl, request.node.name) as name:
        yield name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed journey's report carries what explains it (CI keeps only its log), read before
    its namespace goes: the namespace's Autoscalers, HPAs, Events and pod metrics, and the
    operator's log without its probes' lines."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    funcargs = getattr(item, "funcargs", {})
    if report.when != "call" or not report.failed or "namespace" not in funcargs:
        return
    try:
        report.sections.extend(_diagnostics(funcargs["kubectl"], funcargs["namespace"]))
    except Exception as error:  # the failure's own report matters more than this addition
        report.sections.append(("diagnostics", f"could not be read: {error!r}"))


def _diagnostics(kubectl: Kubectl, namespace: str) -> list[tuple[str, str]]:
    sections = []
    metrics = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
    for title, args in (
        ("autoscalers", ("get", "autoscalers,hpa", "-n", namespace, "-o", "yaml")),
        ("events", ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp")),
        ("pod metrics", ("get", "--raw", metrics)),
    ):
        result = kubectl(*args, check=False)
        sections.append((title, result.stdout + result.stderr))
    selector = "app.kubernetes.io/name=podpilot"
    result = kubectl(
        "logs", "-n", OPERATOR_NAMESPACE, "-l", selector, "--prefix", "--tail=5000", check=False
    )
    lines = [line for line in result.stdout.splitlines() if not PROBE_LINE.search(line)]
    title = f"operator log (last {OPERATOR_LOG_LINES} lines, probes left out)"
    sections.append((title, "\n".join(lines[-OPERATOR_LOG_LINES:]) + result.stderr))
    return sections
