"""Fault cases F1-F3 of docs/reliability.md: the metrics APIs fail under an Autoscaler.

Each case runs a KWOK Deployment whose simulated usage sits exactly at its target (so the
count is steady), with ``evaluationPeriodSeconds: 5`` and a scale-down window of 0 (so a wrong
scale-down would happen at once, not after a window), injects the fault with
``tests/e2e/faults.py``, and asserts:

- the count never goes down: every reading of ``spec.replicas`` (every ~2 s, without
  discovery), the Autoscaler's ``SuccessfulRescale`` Events and the Deployment controller's
  ``ScalingReplicaSet`` Events;
- the HPA's condition reason appears within a bound derived below;
- after recovery the Autoscaler reads again and acts on load (load raised during the outage,
  so what is timed is the recovery, not the load's way into the metrics).

Timing. Every bound is the sum of the delays that make it up plus ``SLACK`` (20 s) for a
loaded 2-core CI machine (kubectl start-ups, status writes, the operator's thread pool):

- ``EVALUATION_DEADLINE``: an evaluation stops reading at max(period, 30 s)
  (``controller/loop.py``), so a read that hangs fails 30 s after its evaluation began;
- ``SCRAPE_INTERVAL``: metrics-server scrapes every 10 s (``cluster.METRICS_RESOLUTION``) and a
  CPU rate needs two scrapes, so a usage change shows in the metrics API within two of them;
- ``AGGREGATOR_RECHECK``: kube-apiserver's aggregator refuses requests (503) for an APIService
  it found unavailable until its availability controller checks again, which it does every
  30 s (its informer's resync) plus at most 5 s of check; after a change of the APIService
  itself it checks at once.

The measured figures are printed and recorded as properties (``--junitxml``) for the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.faults import (
    ReplicaRecord,
    annotate_pods,
    apiservice_availability,
    apiservice_pointed_at_dead_port,
    autoscaler_status,
    killed,
    paused,
    replica_set_scale_downs,
    rescale_sizes,
    status_condition,
)
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import (
    FAST_SCALE_DOWN,
    apply,
    autoscaler,
    cpu_utilization,
    deployment,
    put_series,
    wait_ready,
)

from podpilot.autoscaler.controller.loop import MIN_EVALUATION_DEADLINE
from podpilot_dev.cluster import METRICS_RESOLUTION, ClusterState

Json = Callable[..., Any]
Record = Callable[[str, object], None]  # pytest's record_property

PERIOD = 5  # evaluationPeriodSeconds of workloads.autoscaler
EVALUATION_DEADLINE = max(PERIOD, MIN_EVALUATION_DEADLINE)
SCRAPE_INTERVAL = float(METRICS_RESOLUTION.rstrip("s"))
ADAPTER_RELIST = 5  # prometheus-adapter's --metrics-relist-interval in the dev cluster
AVAILABILITY_CHECK = 5  # the aggregator's discovery check times out after 5 s
AGGREGATOR_RECHECK = 30 + AVAILABILITY_CHECK
SLACK = 20

# From the fault to ScalingActive=False: the evaluation in flight may still have been answered;
# the next starts within a period (two when the previous one ran late) and fails at its
# deadline.
CONDITION_BOUND = 2 * PERIOD + EVALUATION_DEADLINE + SLACK
# From the metrics API being served again to a scale-up on the load set during the outage:
# failed evaluations are retried at most two periods apart, one more period for the
# evaluation after it, and one scrape interval for metrics-server's first rate after resuming.
RECOVERY_BOUND = 3 * PERIOD + SCRAPE_INTERVAL + SLACK

METRICS_API = "v1beta1.metrics.k8s.io"
EXTERNAL_API = "v1beta1.external.metrics.k8s.io"
OUTAGE = 60  # F1: seconds metrics-server stays stopped, as the matrix says
STEADY = 3  # F1, F2: replicas, each pod at exactly its 50 % target


def measured(record_property: Record, case: str, **figures: float) -> None:
    for name, seconds in figures.items():
        record_property(f"{case}_{name}_seconds", round(seconds, 1))
    print(f"{case} measured: " + ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()))


def since(start: float) -> float:
    return time.monotonic() - start


def steady_cpu_autoscaler(kubectl: Kubectl, kubectl_json: Json, namespace: str) -> ReplicaRecord:
    """``web`` at 3 replicas, each pod at its 50 % CPU target, read by its Autoscaler."""
    apply(
        kubectl,
        namespace,
        deployment("web", STEADY, usage_cpu="50m"),
        autoscaler("web", "web", min_replicas=1, max_replicas=6, metrics=[cpu_utilization(50)],
                   behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", STEADY)
    wait_until(
        lambda: (
            (autoscaler_status(kubectl, namespace).get("lastDecision") or {}).get("winner") == 0
        ),
        timeout=90,
        what="a first evaluation with a metric reading",
    )
    record = ReplicaRecord(kubectl, namespace, "web")
    assert record.read() == STEADY
    return record


def scaling_inactive(
    kubectl: Kubectl, namespace: str, record: ReplicaRecord, reason: str
) -> dict[str, Any] | None:
    """ScalingActive=False with ``reason``, or None; reads the replica count on the way."""
    record.read()
    active = status_condition(autoscaler_status(kubectl, namespace), "ScalingActive")
    return active if active.get("status") == "False" and active.get("reason") == reason else None


def scaling_active(kubectl: Kubectl, namespace: str, record: ReplicaRecord) -> bool:
    record.read()
    active = status_condition(autoscaler_status(kubectl, namespace), "ScalingActive")
    return active.get("status") == "True"


def scaled_above(record: ReplicaRecord, count: int) -> bool:
    return (record.read() or 0) > count


def assert_never_decreased(kubectl: Kubectl, namespace: str, record: ReplicaRecord) -> None:
    assert not record.decreases(), f"the count went down: {record.seen}"
    first = record.seen[0][1]
    assert all(size >= first for size in rescale_sizes(kubectl, namespace)), rescale_sizes(
        kubectl, namespace
    )
    assert not replica_set_scale_downs(kubectl, namespace)


def test_f1_metrics_server_stopped_holds_then_scales_up_after_continue(
    cluster: ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    operator: OperatorProcess,
    record_property: Record,
) -> None:
    """F1: metrics-server SIGSTOPped, then continued.

    A stopped metrics-server accepts connections (the kernel does) and never answers, so the
    Autoscaler's read hangs until the evaluation's deadline, max(period, 30 s) = 30 s: the
    condition comes within 2 periods + 30 s (``CONDITION_BOUND`` adds the slack), not within
    2 periods as for an error that is answered at once.

    The outage lasts the matrix's 60 s, and at least 2 periods after the condition and the
    load change: the condition may take up to 40 s to come, after which 2 more failed periods
    with the load raised show that the hold keeps holding; 60 s also spans at least one of the
    aggregator's 30 s availability checks, so the APIService becomes unavailable too, as it
    would in a real outage. The scale-up is timed from the
    moment the aggregator serves metrics.k8s.io again (``AGGREGATOR_RECHECK`` after the
    continue at most), and must come within 3 periods + one scrape interval of it.
    """
    record = steady_cpu_autoscaler(kubectl, kubectl_json, namespace)

    with paused(cluster, "metrics-server"):
        stopped = time.monotonic()
        wait_until(
            lambda: scaling_inactive(kubectl, namespace, record, "FailedGetResourceMetric"),
            timeout=CONDITION_BOUND,
            what="ScalingActive=False, FailedGetResourceMetric, while metrics-server is stopped",
        )
        condition_after = since(stopped)
        annotate_pods(kubectl, namespace, "web", cpu="100m")  # wants 6 once it can read
        record.watch(max(OUTAGE - since(stopped), 2 * PERIOD))
        outage = since(stopped)
        assert autoscaler_status(kubectl, namespace).get("consecutiveFailures", 0) >= 1
        assert record.read() == STEADY, "the count changed while no metric could be read"
    continued = time.monotonic()

    wait_until(
        lambda: (
            record.read() is not None and apiservice_availability(kubectl, METRICS_API) == "True"
        ),
        timeout=AGGREGATOR_RECHECK + SLACK,
        what=f"APIService {METRICS_API} Available again after the continue",
    )
    available = time.monotonic()
    wait_until(
        lambda: scaled_above(record, STEADY),
        timeout=RECOVERY_BOUND,
        what="a scale-up on the load once metrics.k8s.io is served again",
    )
    scaled_up_after = since(available)
    assert_never_decreased(kubectl, namespace, record)
    assert operator.healthy()
    measured(
        record_property, "F1",
        condition=condition_after, outage=outage,
        available_after_continue=available - continued, scale_up_after_available=scaled_up_after,
    )  # fmt: skip


def test_f2_metrics_apiservice_at_a_dead_port_holds_then_recovers(
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    operator: OperatorProcess,
    record_property: Record,
) -> None:
    """F2: the metrics.k8s.io APIService pointed at a 127.0.0.1 port that refuses connections.

    Here every read fails at once (the aggregator answers 503), so the condition comes within
    about a period; the bound is F1's all the same. The outage lasts at least 40 s rather
    than 60 s: with failures this fast that is already 8 failed periods, failure backoff
    included. Changing the APIService back makes the aggregator check it at once; from then,
    discovery and the metric read recover within 3 periods (a negative discovery answer is
    forgotten at once, failed evaluations are retried at most 2 periods apart), and with the
    load raised during the outage the count goes up in the same evaluation.
    """
    record = steady_cpu_autoscaler(kubectl, kubectl_json, namespace)

    with apiservice_pointed_at_dead_port(kubectl, METRICS_API):
        redirected = time.monotonic()
        wait_until(
            lambda: apiservice_availability(kubectl, METRICS_API) == "False",
            timeout=AVAILABILITY_CHECK + SLACK,
            what=f"APIService {METRICS_API} unavailable once pointed at a dead port",
        )
        wait_until(
            lambda: scaling_inactive(kubectl, namespace, record, "FailedGetResourceMetric"),
            timeout=CONDITION_BOUND,
            what="ScalingActive=False, FailedGetResourceMetric, while the APIService is dead",
        )
        condition_after = since(redirected)
        annotate_pods(kubectl, namespace, "web", cpu="100m")
        record.watch(max(40 - since(redirected), 2 * PERIOD))
        outage = since(redirected)
        assert record.read() == STEADY, "the count changed while no metric could be read"
    restored = time.monotonic()

    wait_until(
        lambda: apiservice_availability(kubectl, METRICS_API) == "True",
        timeout=AGGREGATOR_RECHECK + SLACK,
        what=f"APIService {METRICS_API} Available again after the restore",
    )
    available = time.monotonic()
    wait_until(
        lambda: scaling_active(kubectl, namespace, record),
        timeout=3 * PERIOD + SLACK,
        what="ScalingActive=True: discovery and the metric read recovered",
    )
    read_again_after = since(available)
    wait_until(
        lambda: scaled_above(record, STEADY),
        timeout=3 * PERIOD + SLACK,
        what="a scale-up on the load set during the outage",
    )
    scaled_up_after = since(available)
    assert_never_decreased(kubectl, namespace, record)
    assert operator.healthy()
    measured(
        record_property, "F2",
        condition=condition_after, outage=outage, available_after_restore=available - restored,
        read_again_after_available=read_again_after, scale_up_after_available=scaled_up_after,
    )  # fmt: skip


QUEUE_DEPTH = {
    "type": "External",
    "external": {
        "metric": {"name": "queue_depth", "selector": {"matchLabels": {"queue": "jobs"}}},
        "target": {"type": "AverageValue", "averageValue": "10"},
    },
}


def both_metrics_read(kubectl: Kubectl, namespace: str) -> bool:
    metrics = (autoscaler_status(kubectl, namespace).get("lastDecision") or {}).get("metrics")
    return bool(metrics) and all(
        "proposedReplicas" in item and "error" not in item for item in metrics or []
    )


def scale_down_refused(
    kubectl: Kubectl, namespace: str, record: ReplicaRecord, current: int
) -> dict[str, Any] | None:
    """The HPA's rule at work: the CPU metric asks for fewer than ``current`` replicas, the
    External failed, so the Autoscaler holds with ScalingActive=False, FailedGetExternalMetric."""
    record.read()
    status = autoscaler_status(kubectl, namespace)
    active = status_condition(status, "ScalingActive")
    metrics = (status.get("lastDecision") or {}).get("metrics") or []
    refused = (
        active.get("status") == "False"
        and active.get("reason") == "FailedGetExternalMetric"
        and len(metrics) == 2
        and metrics[0].get("proposedReplicas", current) < current
        and "error" in metrics[1]
    )
    return active if refused else None


def test_f3_prometheus_adapter_killed_scales_up_on_cpu_and_never_down(
    cluster: ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    operator: OperatorProcess,
    record_property: Record,
) -> None:
    """F3: prometheus-adapter SIGKILLed under an Autoscaler with a Resource (CPU) metric and an
    External one it serves (``queue_depth``, from the test exporter), then relaunched.

    While the adapter is dead the External fails at once (503). The CPU usage is first
    lowered to 10 %: the CPU metric alone asks for 1 replica, and the Autoscaler must refuse
    that scale-down, as the HPA does, with ScalingActive=False, FailedGetExternalMetric (within
    two scrape intervals for the new rate plus two periods). Then the usage is raised to
    100 %: it must scale up from the CPU metric alone (the same bound). After the relaunch,
    the aggregator serves the external API again after its next availability check, and the
    External is read again within 3 periods plus the adapter's relist interval.
    """
    current = 2
    put_series(
        cluster, "podpilot_test_external_queue_depth", {"namespace": namespace, "queue": "jobs"},
        10 * current,
    )  # fmt: skip
    apply(
        kubectl,
        namespace,
        deployment("web", current, usage_cpu="50m"),
        autoscaler("web", "web", min_replicas=1, max_replicas=6,
                   metrics=[cpu_utilization(50), QUEUE_DEPTH], behavior=FAST_SCALE_DOWN),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", current)
    wait_until(
        lambda: both_metrics_read(kubectl, namespace),
        timeout=90,
        what="a first evaluation reading both the CPU and the External metric",
    )
    record = ReplicaRecord(kubectl, namespace, "web")
    assert record.read() == current
    metric_change_bound = 2 * SCRAPE_INTERVAL + 2 * PERIOD + SLACK

    with killed(cluster, "prometheus-adapter"):
        killed_at = time.monotonic()
        annotate_pods(kubectl, namespace, "web", cpu="10m")
        wait_until(
            lambda: scale_down_refused(kubectl, namespace, record, current),
            timeout=metric_change_bound,
            what="the CPU metric's scale-down refused, FailedGetExternalMetric",
        )
        refused_after = since(killed_at)
        record.watch(3 * PERIOD)
        assert record.read() == current, "scaled down while the External metric was missing"

        load_raised = time.monotonic()
        annotate_pods(kubectl, namespace, "web", cpu="100m")
        wait_until(
            lambda: scaled_above(record, current),
            timeout=metric_change_bound,
            what="a scale-up from the CPU metric alone while the adapter is dead",
        )
        scaled_up_after = since(load_raised)
        decision = autoscaler_status(kubectl, namespace).get("lastDecision") or {}
        metrics = decision.get("metrics") or [{}, {}]
        assert "error" in metrics[1], f"the External was read with the adapter dead: {decision}"
    relaunched = time.monotonic()

    wait_until(
        lambda: (
            record.read() is not None and apiservice_availability(kubectl, EXTERNAL_API) == "True"
        ),
        timeout=AGGREGATOR_RECHECK + SLACK,
        what=f"APIService {EXTERNAL_API} Available again after the relaunch",
    )
    available = time.monotonic()
    wait_until(
        lambda: record.read() is not None and both_metrics_read(kubectl, namespace),
        timeout=3 * PERIOD + ADAPTER_RELIST + SLACK,
        what="the External metric read again after the relaunch",
    )
    external_after = since(available)
    assert_never_decreased(kubectl, namespace, record)
    assert operator.healthy()
    measured(
        record_property, "F3",
        refused_scale_down_after_kill=refused_after, scale_up_after_load=scaled_up_after,
        available_after_relaunch=available - relaunched,
        external_read_after_available=external_after,
    )  # fmt: skip


def cpu_metric_failing(kubectl: Kubectl, namespace: str) -> bool:
    metrics = (autoscaler_status(kubectl, namespace).get("lastDecision") or {}).get("metrics")
    return bool(metrics) and "error" in metrics[0]


def gate_unknown(kubectl: Kubectl, namespace: str, record: ReplicaRecord) -> dict[str, Any] | None:
    """Active=False, MetricUnavailable, or None; reads the replica count on the way."""
    record.read()
    active = status_condition(autoscaler_status(kubectl, namespace), "Active")
    unknown = active.get("status") == "False" and active.get("reason") == "MetricUnavailable"
    return active if unknown else None


def test_f15_a_dead_metrics_api_never_lets_an_idle_queue_take_the_workload_to_zero(
    cluster: ClusterState,
    kubectl: Kubectl,
    kubectl_json: Json,
    namespace: str,
    operator: OperatorProcess,
    record_property: Record,
) -> None:
    """F15: ``minReplicas: 0`` with a CPU metric beside a queue, at one replica; the
    metrics.k8s.io APIService pointed at a dead port, then the queue emptied.

    The engine holds one replica (a metric failed and the queue asks for fewer); the queue
    alone would pass the activation gate once the 5 s cooldown is over. The CPU metric's
    failure must make the gate unknown (``Active=False``, ``MetricUnavailable``) and keep the
    replica through the cooldown and 3 periods more. After the restore, the CPU metric is read
    again and the idle queue takes the workload to zero: the hold was the fault's.
    """
    jobs = {"namespace": namespace, "queue": "jobs"}
    waking_queue = {"type": "External", "external": {**QUEUE_DEPTH["external"],
                                                      "activationThreshold": "2"}}  # fmt: skip
    cooldown = 5
    put_series(cluster, "podpilot_test_external_queue_depth", jobs, 8)  # active; wants 1
    apply(
        kubectl,
        namespace,
        deployment("web", 1, usage_cpu="20m"),
        autoscaler("web", "web", min_replicas=0, max_replicas=4,
                   metrics=[cpu_utilization(50), waking_queue], behavior=FAST_SCALE_DOWN,
                   cooldownSeconds=cooldown),
    )  # fmt: skip
    wait_ready(kubectl_json, namespace, "web", 1)
    wait_until(
        lambda: both_metrics_read(kubectl, namespace),
        timeout=90,
        what="a first evaluation reading both the CPU and the External metric",
    )
    record = ReplicaRecord(kubectl, namespace, "web")
    assert record.read() == 1

    with apiservice_pointed_at_dead_port(kubectl, METRICS_API):
        redirected = time.monotonic()
        wait_until(
            lambda: cpu_metric_failing(kubectl, namespace),
            timeout=AVAILABILITY_CHECK + CONDITION_BOUND,
            what="the CPU metric failing while the APIService is dead",
        )  # fmt: skip
        failing_after = since(redirected)
        put_series(cluster, "podpilot_test_external_queue_depth", jobs, 0)
        emptied = time.monotonic()
        wait_until(
            lambda: gate_unknown(kubectl, namespace, record),
            timeout=2 * SCRAPE_INTERVAL + ADAPTER_RELIST + 2 * PERIOD + SLACK,
            what="Active=False, MetricUnavailable: the gate unknown while the CPU metric fails",
        )
        unknown_after = since(emptied)
        record.watch(cooldown + 3 * PERIOD)
        assert min(replicas for _, replicas in record.seen) == 1, record.seen
        assert gate_unknown(kubectl, namespace, record), autoscaler_status(kubectl, namespace)
    restored = time.monotonic()

    wait_until(
        lambda: record.read() == 0,
        timeout=AGGREGATOR_RECHECK + RECOVERY_BOUND + cooldown,
        what="the idle queue taking the workload to zero once the CPU metric reads again",
    )
    zero_after_restore = since(restored)
    assert operator.healthy()
    measured(
        record_property, "F15",
        cpu_failing=failing_after, unknown_after_queue_emptied=unknown_after,
        zero_after_restore=zero_after_restore,
    )  # fmt: skip
