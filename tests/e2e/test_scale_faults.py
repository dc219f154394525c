"""Faults around the /scale write (docs/reliability.md, F8 and F10).

F8: the operator is SIGKILLed between a /scale patch and the status write after it; the
restarted operator must still count that scale event against the behavior policy.
F10: ``kubectl scale`` races the Autoscaler; podpilot's patches are conditional on the scale
they were decided from, so a concurrent change is reported (``FailedUpdateScale``, Event
``FailedRescale``) and decided again, never overwritten blindly; a deleted target gives
``FailedGetScale`` and a recreated one recovers.

Both use a fault hook of ``podpilot_dev.fault_hooks`` (an environment variable the test build
of the operator reads at start), through ``OperatorProcess.restarted_with``.
"""

from __future__ import annotations

import time

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.test_autoscaler import (
    Json,
    condition,
    events,
    status_of,
    wait_reason,
    wait_replicas,
)
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    spec_replicas,
    wait_ready,
)

from podpilot_dev.fault_hooks import CRASH_AFTER_SCALE_PATCH, SCALE_PATCH_DELAY_SECONDS

POLICY_PERIOD = 60
ONE_POD_PER_MINUTE_DOWN = {
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": POLICY_PERIOD}],
    }
}


def test_f8_crash_between_scale_patch_and_status_write_keeps_the_policy(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, deployment("web", 4, usage_cpu="10m"))  # 10 % of the request
    wait_ready(kubectl_json, namespace, "web", 4)
    with operator.restarted_with({CRASH_AFTER_SCALE_PATCH: namespace}):
        apply(
            kubectl,
            namespace,
            autoscaler("web", "web", min_replicas=1, max_replicas=6,
                       metrics=[cpu_utilization(50)], behavior=ONE_POD_PER_MINUTE_DOWN),
        )  # fmt: skip
        wait_until(
            operator.exited,
            timeout=120,
            interval=0.2,
            what="the operator to kill itself right after its first /scale patch",
        )
        crashed_at = time.monotonic()  # at most 0.2 s after the patch
        # The first step of one pod was patched, and the status after it never written.
        assert spec_replicas(kubectl_json, namespace, "web") == 3
        pending = status_of(kubectl_json, namespace).get("pendingRescale")
        assert pending is not None, "the rescale was not recorded before the patch"
        assert (pending["fromReplicas"], pending["toReplicas"]) == (4, 3)
    # Restarted without the hook. Without the record it would step to 2 at once.
    while time.monotonic() < crashed_at + POLICY_PERIOD - 5:
        assert spec_replicas(kubectl_json, namespace, "web") == 3, (
            "a second scale-down inside the policy period of the first"
        )
        time.sleep(2)
    status = status_of(kubectl_json, namespace)
    assert status.get("pendingRescale") is None  # settled into the history
    assert len(status["stabilization"]["scaleDownEvents"]) == 1
    assert condition(status, "ScalingLimited").get("reason") == "ScaleDownLimit"
    wait_replicas(kubectl_json, namespace, 2, timeout=60)


def test_f10_concurrent_kubectl_scale_is_reported_not_overwritten(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    # Every pod uses all of its request at a target of 50 %: the Autoscaler always wants
    # more than kubectl's 2 or 3, so each of its evaluations patches.
    workload = deployment("web", 2, usage_cpu="100m")
    apply(kubectl, namespace, workload)
    wait_ready(kubectl_json, namespace, "web", 2)
    # Each /scale patch waits 2 s after the scale was read, so kubectl's writes every 3 s
    # land between podpilot's read and its patch most of the time.
    with operator.restarted_with({SCALE_PATCH_DELAY_SECONDS: "2"}):
        apply(
            kubectl,
            namespace,
            autoscaler("web", "web", min_replicas=1, max_replicas=5,
                       metrics=[cpu_utilization(50)]),
        )  # fmt: skip
        wait_reason(
            kubectl_json, namespace, "ScalingActive", "ValidMetricFound",
            timeout=90, what="the Autoscaler reading its metric",
        )  # fmt: skip
        conflicts_seen: list[str] = []
        started = time.monotonic()
        turn = 0
        while time.monotonic() - started < 30:
            kubectl("scale", "deployment", "web", "-n", namespace, f"--replicas={2 + turn % 2}")
            turn += 1
            able = condition(status_of(kubectl_json, namespace), "AbleToScale")
            if able.get("reason") == "FailedUpdateScale":
                conflicts_seen.append(str(able.get("message")))
            time.sleep(3)

        def conflict_events() -> list[str]:
            return [
                str(event.get("message"))
                for event in events(kubectl_json, namespace, "FailedRescale")
                if "409" in str(event.get("message"))
            ]

        reported = wait_until(
            lambda: conflict_events() or conflicts_seen,
            timeout=20,
            what="a FailedRescale Event or FailedUpdateScale condition for a 409 Conflict",
        )
        assert any("decides again" in message for message in reported), reported

        # kubectl stopped: decided again from the count it left, podpilot reaches its wish.
        wait_replicas(kubectl_json, namespace, 5, timeout=90)
        wait_until(
            lambda: (
                condition(status_of(kubectl_json, namespace), "AbleToScale").get("status") == "True"
            ),
            timeout=30,
            what="AbleToScale=True once nobody else writes the scale",
        )

        kubectl("delete", "deployment", "web", "-n", namespace, "--wait=true")
        gone = wait_reason(
            kubectl_json, namespace, "AbleToScale", "FailedGetScale",
            timeout=60, what="AbleToScale=False with FailedGetScale after the deletion",
        )  # fmt: skip
        assert gone["status"] == "False"

        apply(kubectl, namespace, workload)
        wait_until(
            lambda: (
                condition(status_of(kubectl_json, namespace), "AbleToScale").get("status") == "True"
            ),
            timeout=60,
            what="AbleToScale=True again once the Deployment is recreated",
        )
        wait_until(
            lambda: spec_replicas(kubectl_json, namespace, "web") > 2,
            timeout=90,
            what="the recreated Deployment to be scaled up again",
        )
