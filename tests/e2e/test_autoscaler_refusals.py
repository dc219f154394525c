"""Fault cases in which an Active Autoscaler must hold without patching ``/scale``.

- F11: another autoscaler on the target (an HPA, then a second Autoscaler): the Autoscalers
  refuse (``AbleToScale=False``, ``AmbiguousScaleTarget``) and say who the other owner is.
- F13: the selector matches no pods, the target has 0 replicas with ``minReplicas: 1``: the
  HPA's ``ScalingDisabled``, proven against a built-in HPA in the same situation.

"No ``/scale`` patch" is read from the Deployment itself: its replica count stays where the test
set it, and its ``managedFields`` show no write through the ``scale`` subresource (every
``/scale`` patch, podpilot's or the HPA's, is recorded there with ``subresource: scale``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, autoscaler, cpu_utilization, deployment, wait_ready

Json = Callable[..., Any]


def hpa(name: str, target: str, *, min_replicas: int, max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [cpu_utilization(50)],
        },
    }


def condition_of(kubectl_json: Json, namespace: str, kind: str, name: str, type_: str) -> Any:
    status = kubectl_json("get", kind, name, "-n", namespace).get("status", {})
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def able_to_scale(kubectl_json: Json, namespace: str, name: str) -> dict[str, Any]:
    return dict(condition_of(kubectl_json, namespace, "autoscaler", name, "AbleToScale"))


def refusing_because_of(
    kubectl_json: Json,
    namespace: str,
    name: str,
    owners: Collection[str],
    absent: Collection[str] = (),
) -> Callable[[], bool]:
    """Autoscaler ``name`` refuses, naming every one of ``owners`` and none of ``absent``."""

    def probe() -> bool:
        condition = able_to_scale(kubectl_json, namespace, name)
        message = condition.get("message", "")
        return (
            condition.get("status") == "False"
            and condition.get("reason") == "AmbiguousScaleTarget"
            and all(owner in message for owner in owners)
            and not any(owner in message for owner in absent)
        )

    return probe


def autoscaler_events(kubectl_json: Json, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in kubectl_json("get", "events", "-n", namespace)["items"]
        if event.get("involvedObject", {}).get("kind") == "Autoscaler"
        and event["involvedObject"].get("name") == name
    ]


def scale_writers(kubectl_json: Json, namespace: str, name: str) -> list[str]:
    """Every field manager that wrote the Deployment through ``/scale``."""
    metadata = kubectl_json("get", "deployment", name, "-n", namespace, "--show-managed-fields")[
        "metadata"
    ]
    return [
        entry.get("manager", "")
        for entry in metadata.get("managedFields") or []
        if entry.get("subresource") == "scale"
    ]


def assert_untouched(
    kubectl_json: Json, namespace: str, name: str, replicas: int, seconds: float
) -> None:
    """``seconds`` (several periods of 5 s) in which nobody scales the Deployment."""
    since = time.monotonic()
    while True:
        found = kubectl_json("get", "deployment", name, "-n", namespace)["spec"]["replicas"]
        assert found == replicas, f"Deployment {name} scaled to {found}"
        if time.monotonic() - since >= seconds:
            break
        time.sleep(2)
    assert scale_writers(kubectl_json, namespace, name) == []


def test_f11_autoscalers_sharing_a_target_refuse_and_name_the_other_owner(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    # The HPA keeps 2 (its bounds are 2..2); each Autoscaler, were it to act, would reset the
    # count at once to its own minReplicas, 3 or 4, without waiting for any metric.
    apply(
        kubectl,
        namespace,
        deployment("web", 2, usage_cpu="50m"),
        hpa("web", "web", min_replicas=2, max_replicas=2),
    )
    wait_ready(kubectl_json, namespace, "web", 2)  # the operator's HPA watch has it by now
    apply(
        kubectl,
        namespace,
        autoscaler("web", "web", min_replicas=3, max_replicas=3, metrics=[cpu_utilization(50)]),
    )
    the_hpa, first, second = (
        f"HorizontalPodAutoscaler {namespace}/web",
        f"Autoscaler {namespace}/web",
        f"Autoscaler {namespace}/web-2",
    )
    wait_until(
        refusing_because_of(kubectl_json, namespace, "web", {the_hpa}),
        timeout=60,
        what="Autoscaler web to refuse, naming the HPA",
    )
    assert any(
        event["reason"] == "AmbiguousScaleTarget" and the_hpa in event["message"]
        for event in autoscaler_events(kubectl_json, namespace, "web")
    )
    assert_untouched(kubectl_json, namespace, "web", 2, seconds=12)

    # A second Active Autoscaler: it refuses too, naming both; the first now names it as well.
    apply(
        kubectl,
        namespace,
        autoscaler("web-2", "web", min_replicas=4, max_replicas=4, metrics=[cpu_utilization(50)]),
    )
    wait_until(
        refusing_because_of(kubectl_json, namespace, "web-2", {the_hpa, first}),
        timeout=60,
        what="Autoscaler web-2 to refuse, naming the HPA and Autoscaler web",
    )
    wait_until(
        refusing_because_of(kubectl_json, namespace, "web", {the_hpa, second}),
        timeout=60,
        what="Autoscaler web to name Autoscaler web-2 too",
    )

    # The HPA gone, the two Autoscalers still refuse: each names the other, not the HPA.
    kubectl("delete", "hpa", "web", "-n", namespace, "--wait=true")
    wait_until(
        refusing_because_of(kubectl_json, namespace, "web", {second}, absent={the_hpa}),
        timeout=60,
        what="Autoscaler web to refuse because of Autoscaler web-2 alone",
    )
    wait_until(
        refusing_because_of(kubectl_json, namespace, "web-2", {first}, absent={the_hpa}),
        timeout=60,
        what="Autoscaler web-2 to refuse because of Autoscaler web alone",
    )
    for name, other in (("web", second), ("web-2", first)):
        events = autoscaler_events(kubectl_json, namespace, name)
        assert any(
            event["reason"] == "AmbiguousScaleTarget"
            and other in event["message"]
            and the_hpa not in event["message"]
            for event in events
        ), f"no AmbiguousScaleTarget Event on {name} naming {other} alone: {events}"
        assert not [event for event in events if event["reason"] == "SuccessfulRescale"]
    assert_untouched(kubectl_json, namespace, "web", 2, seconds=12)


def test_f13_zero_replicas_and_no_pods_hold_with_the_hpa_reason(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    # Two Deployments at 0 replicas (so no pod matches either selector), minReplicas 1: one
    # Autoscaler, and a built-in HPA on the twin to show what the HPA says in this situation.
    apply(
        kubectl,
        namespace,
        deployment("web", 0),
        deployment("twin", 0),
        autoscaler("web", "web", min_replicas=1, max_replicas=4, metrics=[cpu_utilization(50)]),
        hpa("twin", "twin", min_replicas=1, max_replicas=4),
    )

    def scaling_active(kind: str, name: str) -> dict[str, Any]:
        return dict(condition_of(kubectl_json, namespace, kind, name, "ScalingActive"))

    ours = wait_until(
        lambda: (
            scaling_active("autoscaler", "web").get("reason") == "ScalingDisabled"
            and scaling_active("autoscaler", "web")
        ),
        timeout=60,
        what="the Autoscaler's ScalingActive=False ScalingDisabled",
    )
    theirs = wait_until(
        lambda: scaling_active("hpa", "twin").get("reason") and scaling_active("hpa", "twin"),
        timeout=60,
        what="the HPA's ScalingActive condition",
    )
    assert (ours["status"], ours["reason"], ours["message"]) == (
        theirs["status"],
        theirs["reason"],
        theirs["message"],
    )
    assert ours["status"] == "False"
    assert ours["message"] == "scaling is disabled since the replica count of the target is zero"
    able = able_to_scale(kubectl_json, namespace, "web")
    assert (able["status"], able["reason"]) == ("True", "SucceededGetScale")
    status = kubectl_json("get", "autoscaler", "web", "-n", namespace)["status"]
    assert (status["currentReplicas"], status["desiredReplicas"]) == (0, 0)
    assert_untouched(kubectl_json, namespace, "web", 0, seconds=12)
    assert not [
        event
        for event in autoscaler_events(kubectl_json, namespace, "web")
        if event["reason"] == "SuccessfulRescale"
    ]
