"""The Autoscaler on the dev cluster: every metric type, behavior, modes, restarts, bad input.

Each test runs in its own namespace against the shared operator process (``operator``
fixture), which uses the same HPA timings as the dev cluster's kube-controller-manager.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess, fresh_namespace
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    put_series,
    set_usage,
    spec_replicas,
    wait_ready,
)

from podpilot.autoscaler.controller.watched_scales import deployment_scale
from podpilot.kube.scale import Scale
from podpilot_dev.cluster import ClusterState

Json = Callable[..., Any]


def status_of(kubectl_json: Json, namespace: str, name: str = "web") -> dict[str, Any]:
    status: dict[str, Any] = kubectl_json("get", "autoscaler", name, "-n", namespace).get(
        "status", {}
    )
    return status


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in status.get("conditions", []):
        if item["type"] == kind:
            return dict(item)
    return {}


def wait_reason(
    kubectl_json: Json, namespace: str, kind: str, reason: str, *, timeout: float, what: str
) -> dict[str, Any]:
    """Wait until the Autoscaler ``web``'s condition ``kind`` has ``reason``; return it."""
    wait_until(
        lambda: condition(status_of(kubectl_json, namespace), kind).get("reason") == reason,
        timeout=timeout,
        what=what,
    )
    return condition(status_of(kubectl_json, namespace), kind)


def wait_replicas(kubectl_json: Json, namespace: str, count: int, timeout: float = 90) -> None:
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == count,
        timeout=timeout,
        what=f"Deployment web scaled to {count}",
    )


def events(kubectl_json: Json, namespace: str, reason: str) -> list[dict[str, Any]]:
    items = kubectl_json("get", "events", "-n", namespace)["items"]
    return [event for event in items if event.get("reason") == reason]


RESOURCE_CASES = {
    "cpu-utilization": (cpu_utilization(50), {"cpu": "50m"}, {"cpu": "100m"}, {"cpu": "10m"}),
    "memory-average-value": (
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "100Mi"},
            },
        },
        {"memory": "100Mi"},
        {"memory": "200Mi"},
        {"memory": "20Mi"},
    ),
    "memory-utilization-container-resource": (
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "memory",
                "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        },
        {"memory": "64Mi"},
        {"memory": "128Mi"},
        {"memory": "8Mi"},
    ),
}


def test_resource_metrics_scale_up_and_down(
    kubectl: Kubectl, kubectl_json: Json, operator: OperatorProcess
) -> None:
    """Every case of ``RESOURCE_CASES``, each in its own namespace, side by side: each spends
    its time waiting for metrics-server's next reading and the downscale window, not working,
    so together they take about as long as one."""
    with contextlib.ExitStack() as namespaces:
        cases = {
            case: namespaces.enter_context(fresh_namespace(kubectl, f"resource-{case}"))
            for case in RESOURCE_CASES
        }
        with ThreadPoolExecutor(max_workers=len(cases)) as pool:
            runs = {
                case: pool.submit(scale_up_and_down, case, kubectl, kubectl_json, namespace)
                for case, namespace in cases.items()
            }
        errors = {case: run.exception() for case, run in runs.items()}
    failed = [f"{case}: {error}" for case, error in errors.items() if error is not None]
    assert not failed, "\n".join(failed)


def scale_up_and_down(case: str, kubectl: Kubectl, kubectl_json: Json, namespace: str) -> None:
    metric, steady, high, low = RESOURCE_CASES[case]
    apply(
        kubectl,
        namespace,
        deployment(
            "web", 2, usage_cpu=steady.get("cpu", "50m"), usage_memory=steady.get("memory", "64Mi"),
            containers=("app", "sidecar") if metric["type"] == "ContainerResource" else ("app",),
        ),
        autoscaler("web", "web", min_replicas=2, max_replicas=4, metrics=[metric],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", 2)
    wait_until(
        lambda: status_of(kubectl_json, namespace).get("lastDecision", {}).get("winner") == 0,
        timeout=90,
        what="a first evaluation with a metric reading",
    )
    assert spec_replicas(kubectl_json, namespace, "web") == 2

    set_usage(kubectl, namespace, "web", **high)
    wait_replicas(kubectl_json, namespace, 4)
    assert events(kubectl_json, namespace, "SuccessfulRescale")

    wait_ready(kubectl_json, namespace, "web", 4)
    set_usage(kubectl, namespace, "web", **low)
    wait_replicas(kubectl_json, namespace, 2)
    status = status_of(kubectl_json, namespace)
    assert status["reference"] == "Deployment/web"
    assert status["lastScaleTime"]


def test_pods_metric_from_custom_metrics_api(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    metric = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    apply(kubectl, namespace, deployment("web", 2))
    wait_ready(kubectl_json, namespace, "web", 2)

    def set_all(value: float) -> None:
        for pod in kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]:
            labels = {"namespace": namespace, "pod": pod["metadata"]["name"]}
            put_series(cluster, "podpilot_test_pod_requests_per_second", labels, value)

    set_all(10)
    apply(
        kubectl,
        namespace,
        autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[metric],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_until(
        lambda: "10/10" in status_of(kubectl_json, namespace).get("targets", ""),
        timeout=90,
        what="the Pods metric read at its target",
    )
    set_all(20)
    wait_replicas(kubectl_json, namespace, 4)
    wait_ready(kubectl_json, namespace, "web", 4)
    set_all(5)
    wait_replicas(kubectl_json, namespace, 2)


def test_object_metric_from_custom_metrics_api(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    metric = {
        "type": "Object",
        "object": {
            "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "metric": {"name": "queue_length"},
            "target": {"type": "Value", "value": "100"},
        },
    }
    labels = {"namespace": namespace, "deployment": "web"}
    put_series(cluster, "podpilot_test_object_queue_length", labels, 100)
    apply(
        kubectl,
        namespace,
        deployment("web", 2),
        autoscaler("web", "web", min_replicas=1, max_replicas=4, metrics=[metric],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", 2)
    wait_until(
        lambda: status_of(kubectl_json, namespace).get("targets") == "100/100",
        timeout=90,
        what="the Object metric read at its target",
    )
    put_series(cluster, "podpilot_test_object_queue_length", labels, 200)
    wait_replicas(kubectl_json, namespace, 4)
    wait_ready(kubectl_json, namespace, "web", 4)
    put_series(cluster, "podpilot_test_object_queue_length", labels, 50)
    wait_replicas(kubectl_json, namespace, 2)


def test_external_metric_from_external_metrics_api(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    metric = {
        "type": "External",
        "external": {
            "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    jobs = {"namespace": namespace, "queue": "jobs"}
    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 20)
    # A series of another queue must be left out by the metric selector.
    put_series(cluster, "podpilot_test_external_queue_depth", {**jobs, "queue": "other"}, 500)
    apply(
        kubectl,
        namespace,
        deployment("web", 2),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[metric],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_until(
        lambda: status_of(kubectl_json, namespace).get("targets") == "10/10 (avg)",
        timeout=90,
        what="the External metric read at its target",
    )
    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 40)
    wait_replicas(kubectl_json, namespace, 4)
    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 10)
    wait_replicas(kubectl_json, namespace, 1)


def _scaled_up_workload(kubectl: Kubectl, kubectl_json: Json, namespace: str, **spec: Any) -> None:
    apply(
        kubectl,
        namespace,
        deployment("web", 2, usage_cpu="100m"),
        autoscaler("web", "web", min_replicas=2, max_replicas=4, metrics=[cpu_utilization(50)],
                   **spec),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 4)
    wait_ready(kubectl_json, namespace, "web", 4)


def drop_load_until_stabilized(kubectl: Kubectl, kubectl_json: Json, namespace: str) -> None:
    set_usage(kubectl, namespace, "web", cpu="10m")
    wait_reason(
        kubectl_json, namespace, "AbleToScale", "ScaleDownStabilized",
        timeout=60, what="the scale-down to be held by the stabilization window",
    )  # fmt: skip


def assert_replicas_stay(kubectl_json: Json, namespace: str, count: int, seconds: float) -> None:
    since = time.monotonic()
    while time.monotonic() - since < seconds:
        assert spec_replicas(kubectl_json, namespace, "web") == count
        time.sleep(3)


def test_pods_policy_caps_scale_up(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}}
    apply(
        kubectl,
        namespace,
        deployment("web", 2, usage_cpu="150m"),
        autoscaler("web", "web", min_replicas=2, max_replicas=8, metrics=[cpu_utilization(50)],
                   behavior=behavior),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 3)
    status = status_of(kubectl_json, namespace)
    assert condition(status, "ScalingLimited")["reason"] == "ScaleUpLimit"
    time.sleep(12)
    assert spec_replicas(kubectl_json, namespace, "web") == 3


def test_select_policy_disabled_blocks_scale_down(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    _scaled_up_workload(
        kubectl, kubectl_json, namespace,
        behavior={"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}},
    )  # fmt: skip
    set_usage(kubectl, namespace, "web", cpu="10m")
    wait_until(
        lambda: (
            status_of(kubectl_json, namespace).get("lastDecision", {}).get("limitReason")
            == "ScaleDownLimit"
        ),
        timeout=60,
        what="the scale-down to be blocked by selectPolicy Disabled",
    )
    time.sleep(10)
    assert spec_replicas(kubectl_json, namespace, "web") == 4


def test_dry_run_computes_but_never_patches(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        kubectl,
        namespace,
        deployment("web", 2, usage_cpu="100m"),
        autoscaler("web", "web", min_replicas=2, max_replicas=6, metrics=[cpu_utilization(50)],
                   mode="DryRun"),
    )  # fmt: skip
    wait_until(
        lambda: (
            status_of(kubectl_json, namespace).get("lastDecision", {}).get("action") == "DryRun"
        ),
        timeout=90,
        what="a dry-run decision",
    )
    status = status_of(kubectl_json, namespace)
    assert status["desiredReplicas"] == 4
    assert events(kubectl_json, namespace, "DryRunRescale")
    time.sleep(8)
    assert spec_replicas(kubectl_json, namespace, "web") == 2
    assert not events(kubectl_json, namespace, "SuccessfulRescale")


def test_paused_never_patches_and_says_so(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        kubectl,
        namespace,
        deployment("web", 2, usage_cpu="100m"),
        autoscaler("web", "web", min_replicas=2, max_replicas=4, metrics=[cpu_utilization(50)],
                   paused=True),
    )  # fmt: skip
    wait_until(
        lambda: condition(status_of(kubectl_json, namespace), "Paused").get("status") == "True",
        timeout=90,
        what="the Paused condition",
    )
    assert status_of(kubectl_json, namespace)["summary"] == "Paused"
    time.sleep(8)
    assert spec_replicas(kubectl_json, namespace, "web") == 2
    kubectl("patch", "autoscaler", "web", "-n", namespace, "--type=merge",
            "-p", '{"spec": {"paused": false}}')  # fmt: skip
    wait_replicas(kubectl_json, namespace, 4)


def test_restart_mid_stabilization_window_keeps_the_window(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    window = 45
    _scaled_up_workload(
        kubectl, kubectl_json, namespace,
        behavior={"scaleDown": {"stabilizationWindowSeconds": window}},
    )  # fmt: skip
    # The window holds the scale-down (ScaleDownStabilized) before the restart, across it, and
    # only until it ends: this test is also the plain stabilization window's.
    drop_load_until_stabilized(kubectl, kubectl_json, namespace)
    # The last recommendation of 4 came at most an evaluation period (5 s) before the first
    # held one: the window holds at least until then, whatever the restart takes.
    held_until = time.monotonic() + window - 5 - 3
    operator.stop(kill=True)
    operator.start()
    # A restarted operator without the persisted recommendations would scale down at once.
    assert_replicas_stay(
        kubectl_json, namespace, 4, seconds=min(20.0, held_until - time.monotonic())
    )
    assert condition(status_of(kubectl_json, namespace), "AbleToScale")["reason"] == (
        "ScaleDownStabilized"
    )
    wait_replicas(kubectl_json, namespace, 2, timeout=90)


def test_bad_input_becomes_conditions_and_never_scales_down(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    missing_metric = {
        "type": "External",
        "external": {
            "metric": {"name": "metric_nobody_exports"},
            "target": {"type": "Value", "value": "1"},
        },
    }
    apply(
        kubectl,
        namespace,
        deployment("web", 3, usage_cpu="10m"),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[missing_metric],
                   behavior=FAST_SCALE_DOWN),
        autoscaler("ghost", "no-such-deployment", min_replicas=1, max_replicas=3,
                   metrics=[cpu_utilization(50)]),
    )  # fmt: skip
    wait_reason(
        kubectl_json, namespace, "ScalingActive", "FailedGetExternalMetric",
        timeout=90, what="ScalingActive=False with FailedGetExternalMetric",
    )  # fmt: skip
    ghost = wait_until(
        lambda: condition(status_of(kubectl_json, namespace, "ghost"), "AbleToScale"),
        timeout=60,
        what="a condition on the Autoscaler of a missing Deployment",
    )
    assert ghost["status"] == "False" and ghost["reason"] == "FailedGetScale"
    assert "no-such-deployment" in ghost["message"]
    assert events(kubectl_json, namespace, "FailedGetExternalMetric")
    assert events(kubectl_json, namespace, "FailedGetScale")
    time.sleep(8)
    assert spec_replicas(kubectl_json, namespace, "web") == 3


def test_deployment_scale_comes_from_the_watch_as_the_apiserver_gives_it(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    """The Deployment cache stands in for GET /scale: same counts, same selector text (with
    expressions), it scales the Deployment, and a deleted Deployment is FailedGetScale."""
    workload = deployment("web", 2, usage_cpu="100m")
    workload["spec"]["selector"]["matchExpressions"] = [
        {"key": "track", "operator": "In", "values": ["stable", "canary"]},
        {"key": "legacy", "operator": "DoesNotExist"},
    ]
    workload["spec"]["template"]["metadata"]["labels"]["track"] = "stable"
    apply(kubectl, namespace, workload)
    wait_ready(kubectl_json, namespace, "web", 2)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale"

    def read_scale() -> dict[str, Any]:
        return dict(json.loads(kubectl("get", "--raw", path).stdout))

    wait_until(
        lambda: read_scale()["status"].get("replicas") == 2,
        timeout=30,
        what="the Deployment's scale to show 2 replicas",
    )
    scale = read_scale()
    watched = deployment_scale(kubectl_json("get", "deployment", "web", "-n", namespace))
    assert watched == Scale(
        scale["spec"]["replicas"], scale["status"]["replicas"], scale["status"]["selector"]
    )
    assert watched.selector == "app=web,!legacy,track in (canary,stable)"

    apply(
        kubectl,
        namespace,
        autoscaler("web", "web", min_replicas=1, max_replicas=4, metrics=[cpu_utilization(50)]),
    )
    wait_replicas(kubectl_json, namespace, 4)
    kubectl("delete", "deployment", "web", "-n", namespace, "--wait=true")
    gone = wait_reason(
        kubectl_json, namespace, "AbleToScale", "FailedGetScale",
        timeout=60, what="AbleToScale=False with FailedGetScale once the Deployment is deleted",
    )  # fmt: skip
    assert gone["status"] == "False" and "web" in gone["message"]


def test_a_replication_controller_scales_through_the_core_group_scale(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    """A ReplicationController is an HPA target: its /scale is under /api/v1, not /apis."""
    template = deployment("web", 2, usage_cpu="100m")["spec"]["template"]
    controller = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": template},
    }
    target = {"apiVersion": "v1", "kind": "ReplicationController", "name": "web"}
    apply(
        kubectl,
        namespace,
        controller,
        autoscaler("web", "web", min_replicas=1, max_replicas=4, metrics=[cpu_utilization(50)],
                   scaleTargetRef=target),
    )  # fmt: skip
    wait_until(
        lambda: kubectl_json("get", "rc", "web", "-n", namespace)["spec"]["replicas"] == 4,
        timeout=90,
        what="the ReplicationController scaled to 4",
    )
    status = status_of(kubectl_json, namespace)
    assert status["reference"] == "ReplicationController/web"
    assert condition(status, "AbleToScale")["status"] == "True"
    assert events(kubectl_json, namespace, "SuccessfulRescale")


def waking_queue(queue: str) -> dict[str, Any]:
    """An External ``queue_depth`` metric of one queue that wakes its target above 5."""
    return {
        "type": "External",
        "external": {
            "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": queue}}},
            "target": {"type": "AverageValue", "averageValue": "10"},
            "activationThreshold": "5",
        },
    }


def test_scale_to_zero_with_cpu_beside_an_external_metric(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    """As with HPAScaleToZero, a cpu metric may stand beside the External one: the queue alone
    decides zero (the cpu metric has no pod to read there), the cpu shapes the count above."""
    queue = waking_queue("jobs")
    jobs = {"namespace": namespace, "queue": "jobs"}
    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 0)
    apply(
        kubectl,
        namespace,
        deployment("web", 1, usage_cpu="20m"),
        autoscaler("web", "web", min_replicas=0, max_replicas=4,
                   metrics=[cpu_utilization(50), queue], behavior=FAST_SCALE_DOWN,
                   cooldownSeconds=5),
    )  # fmt: skip
    wait_replicas(kubectl_json, namespace, 0)
    wait_until(
        lambda: condition(status_of(kubectl_json, namespace), "Active")
        .get("message", "").startswith("staying at zero"),
        timeout=30,
        what="an evaluation at zero",
    )  # fmt: skip
    asleep = status_of(kubectl_json, namespace)
    assert condition(asleep, "Active")["reason"] == "NoMetricAboveActivationThreshold"
    # At zero only the queue is read: the cpu metric has no pod, and fails nothing.
    read = asleep["lastDecision"]["metrics"]
    assert [(item["index"], "error" in item) for item in read] == [(1, False)], read

    def cpu_failures() -> int:  # a new pod has no metrics yet: the first read may fail
        return sum(
            e.get("count", 1) for e in events(kubectl_json, namespace, "FailedGetResourceMetric")
        )

    failed_before = cpu_failures()
    time.sleep(2 * 5)  # two evaluation periods at zero
    assert cpu_failures() == failed_before

    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 30)
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") >= 1,
        timeout=60,
        what="the queue above its activation threshold waking web",
    )
    woke = condition(status_of(kubectl_json, namespace), "Active")
    assert (woke["status"], woke["reason"]) == ("True", "MetricAboveActivationThreshold")


def test_a_woken_workload_whose_pod_stays_pending_sleeps_after_the_cooldown(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess,
    cluster: ClusterState,
) -> None:  # fmt: skip
    """The queue wakes web, but its pod can never be scheduled: the cpu metric has no pod to
    measure, which is no metric outage, so once the queue is idle for the cooldown web goes
    back to zero instead of holding a Pending replica for ever."""
    queue = waking_queue("stuck")
    series = {"namespace": namespace, "queue": "stuck"}
    # Above the activation threshold (5), below the target (10): one replica. With more, the
    # HPA's rule holds them (a failed metric never lets the others scale down).
    put_series(cluster, "podpilot_test_external_queue_depth", series, 8)
    unschedulable = deployment("web", 0, usage_cpu="20m")
    unschedulable["spec"]["template"]["spec"]["nodeSelector"] = {"podpilot.io/no-such-node": "x"}
    apply(
        kubectl,
        namespace,
        unschedulable,
        autoscaler("web", "web", min_replicas=0, max_replicas=4,
                   metrics=[cpu_utilization(50), queue], cooldownSeconds=5),
    )  # fmt: skip
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 1,
        timeout=60,
        what="the queue waking web",
    )

    def phases() -> list[str]:
        pods = kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        return [pod["status"].get("phase", "") for pod in pods]

    wait_until(lambda: phases() == ["Pending"], timeout=30, what="web's one pod, Pending")
    put_series(cluster, "podpilot_test_external_queue_depth", series, 0)
    wait_replicas(kubectl_json, namespace, 0, timeout=60)
    asleep = condition(status_of(kubectl_json, namespace), "Active")
    assert asleep["reason"] == "NoMetricAboveActivationThreshold", asleep
