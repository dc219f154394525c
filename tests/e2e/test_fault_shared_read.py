"""Fault case F12: deleting the Autoscaler whose metrics read the others share spares them.

Autoscalers of one namespace share one in-flight ``metrics.k8s.io`` list. metrics-server is
frozen (SIGSTOP) so that the list ``a`` started hangs; ``b`` is created and joins that read;
``a`` is deleted, and its loop, still waiting in that read, is cancelled
``CANCELLATION_TIMEOUT`` later while the read still hangs. Once metrics-server is continued,
``b`` must still be evaluated: before the fix it received ``a``'s ``CancelledError`` and its
loop ended for good.

While metrics-server is frozen every API call goes through ``kubectl --raw`` (no discovery,
which could wait on the frozen aggregated API) with a request timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.faults import autoscaler_path, paused, raw
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    set_usage,
    spec_replicas,
    wait_ready,
)

from podpilot.apimachinery.timestamps import parse_time
from podpilot.autoscaler.controller.autoscalers import CANCELLATION_TIMEOUT
from podpilot_dev.cluster import ClusterState

Json = Callable[..., Any]
PERIOD = 5  # evaluationPeriodSeconds of workloads.autoscaler


def last_decision(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body = raw(kubectl, "get", autoscaler_path(namespace, name))
    decision: dict[str, Any] = (
        json.loads(body).get("status", {}).get("lastDecision", {}) if body else {}
    )
    return decision


def decided_with_reading(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    """The last decision of ``name`` when its metric gave a reading (metric 0 won)."""
    decision = last_decision(kubectl, namespace, name)
    return decision if decision.get("winner") == 0 else None


def test_f12_deleting_the_autoscaler_that_started_a_shared_read_spares_the_others(
    cluster: ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    # Two targets: two Autoscalers on one target would (rightly) refuse to act.
    apply(
        kubectl,
        namespace,
        deployment("web-a", 1),
        deployment("web-b", 2),
        autoscaler("a", "web-a", min_replicas=1, max_replicas=2, metrics=[cpu_utilization(50)]),
    )
    wait_ready(kubectl_json, namespace, "web-a", 1)
    wait_ready(kubectl_json, namespace, "web-b", 2)
    wait_until(
        lambda: decided_with_reading(kubectl, namespace, "a"),
        timeout=90,
        what="a first evaluation of a with a metric reading",
    )
    b = autoscaler("b", "web-b", min_replicas=2, max_replicas=4, metrics=[cpu_utilization(50)])
    b["metadata"]["namespace"] = namespace

    with paused(cluster, "metrics-server"):
        # Within one period a's next evaluation starts the namespace's list, which hangs; its
        # previous list is then older than half a period, so b cannot reuse it and joins.
        time.sleep(PERIOD + 3)
        assert raw(kubectl, "create", autoscaler_path(namespace), b) is not None
        time.sleep(3)
        assert raw(kubectl, "delete", autoscaler_path(namespace, "a")) is not None
        # Nothing holds a (no finalizer): it is gone at once. Its loop, waiting in the hung
        # read, is cancelled CANCELLATION_TIMEOUT later, still while metrics-server is frozen.
        wait_until(
            lambda: raw(kubectl, "get", autoscaler_path(namespace, "a")) is None,
            timeout=30,
            what="a deleted while metrics-server is frozen",
        )
        time.sleep(CANCELLATION_TIMEOUT + 2)
    continued_at = time.time()

    first = wait_until(
        lambda: decided_with_reading(kubectl, namespace, "b"),
        timeout=90,
        what="b evaluated with a metric reading after metrics-server was continued",
    )
    # Evaluated again and again: b acts on a load change, with a decision made after the
    # continue.
    set_usage(kubectl, namespace, "web-b", cpu="100m")
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web-b") == 4,
        timeout=60,
        what="web-b scaled up to 4 by b",
    )
    later = last_decision(kubectl, namespace, "b")
    assert (parse_time(later.get("evaluatedAt")) or 0.0) > continued_at, (first, later)
    assert operator.healthy()
