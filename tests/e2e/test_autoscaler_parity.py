"""Parity with the built-in HPA: same manifest, same Deployment, same decisions and columns."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, deployment, spec_replicas, wait_ready

Json = Callable[..., Any]

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 8,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
    },
}
# Total simulated CPU spread over however many pods there are (so a fixed point exists, as with
# real load behind a Service), and the replica count both must settle on: ceil(total / 50m).
LOAD_STEPS = [(200, 4), (350, 7), (50, 2)]


def dry_run_twin(hpa: dict[str, Any]) -> dict[str, Any]:
    """The Autoscaler made from the HPA the way a user would: change apiVersion and kind."""
    twin = copy.deepcopy(hpa)
    twin["apiVersion"], twin["kind"] = "podpilot.io/v1alpha1", "Autoscaler"
    twin["spec"]["mode"] = "DryRun"
    twin["spec"]["evaluationPeriodSeconds"] = 5
    return twin


def spread_load(kubectl: Kubectl, kubectl_json: Json, namespace: str, total: int) -> None:
    """Give every pod an equal share of ``total`` millicores (only pods whose share changed)."""
    pods = [
        pod
        for pod in kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        if "deletionTimestamp" not in pod["metadata"]
    ]
    share = f"{total // max(len(pods), 1)}m"
    for pod in pods:
        if pod["metadata"].get("annotations", {}).get("kwok.x-k8s.io/usage-cpu") != share:
            kubectl("annotate", "pod", pod["metadata"]["name"], "-n", namespace, "--overwrite",
                    f"kwok.x-k8s.io/usage-cpu={share}")  # fmt: skip


def columns(kubectl: Kubectl, kind: str, namespace: str) -> dict[str, str]:
    header, row = kubectl("get", kind, "web", "-n", namespace).stdout.splitlines()[:2]
    starts = [header.index(name) for name in header.split()]
    bounds = [*starts[1:], None]
    return {
        header[start:end].strip(): row[start:end].strip()
        for start, end in zip(starts, bounds, strict=True)
    }


def test_dry_run_autoscaler_shadows_the_builtin_hpa_then_takes_over_and_gives_back(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    """(a) A DryRun twin recommends what the HPA does under a changing load, and its shadow
    tally says so; (b) ``podpilot takeover`` in the middle of the HPA's downscale window does
    not scale down early; (c) ``--undo`` creates the HPA exactly as it was, and it scales."""
    apply(kubectl, namespace, deployment("web", 2, usage_cpu="50m"), HPA, dry_run_twin(HPA))
    wait_ready(kubectl_json, namespace, "web", 2)

    def recommendations() -> tuple[int | None, int | None, int]:
        hpa = kubectl_json("get", "hpa", "web", "-n", namespace).get("status", {})
        ours = kubectl_json("get", "autoscaler", "web", "-n", namespace).get("status", {})
        return (
            hpa.get("desiredReplicas"),
            ours.get("desiredReplicas"),
            spec_replicas(kubectl_json, namespace, "web"),
        )

    def settle(total_millicores: int, expected: int) -> None:
        def settled() -> bool:
            spread_load(kubectl, kubectl_json, namespace, total_millicores)
            return recommendations() == (expected, expected, expected)

        wait_until(
            settled,
            timeout=240,
            interval=2,
            what=f"HPA and Autoscaler to settle on {expected} replicas for {total_millicores}m",
        )

    for total_millicores, expected in LOAD_STEPS:
        settle(total_millicores, expected)
    # The built-in HPA itself scaled both ways on the simulated usage, for the reasons it gives.
    rescales = [
        event.get("message", "")
        for event in kubectl_json(
            "get", "events", "-n", namespace,
            "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler",
        )["items"]
        if event.get("reason") == "SuccessfulRescale"
    ]  # fmt: skip
    assert any("above target" in message for message in rescales), rescales
    assert any("below target" in message for message in rescales), rescales

    compared = ("REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS")

    def same_columns() -> bool:
        hpa_columns = columns(kubectl, "hpa", namespace)
        our_columns = columns(kubectl, "autoscaler", namespace)
        assert our_columns["MODE"] == "DryRun"
        return all(our_columns[name] == hpa_columns[name] for name in compared)

    # Both write status on their own schedule, so wait for the two to show the same moment.
    wait_until(same_columns, timeout=60, what="kubectl get hpa and autoscaler to show the same")

    # (a) The tally the twin kept through those steps, in status, metrics and explain.
    shadow = kubectl_json("get", "autoscaler", "web", "-n", namespace)["status"]["shadow"]
    evaluations, agreed = shadow["evaluations"], shadow["agreed"]
    print(f"shadow tally: agreed {agreed} of {evaluations}, {shadow['skipped']} skipped")
    assert shadow["hpa"] == "web"
    assert evaluations >= 5
    assert agreed / evaluations >= 0.5, shadow
    served = scrape(operator.metrics_url)
    assert f'podpilot_autoscaler_shadow_evaluations{{name="web",namespace="{namespace}"}}' in served
    explained = podpilot(operator, "explain", "-n", namespace, "web").stdout
    assert "Shadowing HPA web: agreed" in explained

    # (b) Up to 4, then down to 50m: the HPA holds 4 through its 30 s downscale window. A
    # window that passed between two polls (a slow kubectl on a busy machine) is tried again.
    for attempt in range(1, 4):
        settle(200, 4)
        try:
            wait_for_the_hpa_to_stabilize_at_four_on(kubectl, kubectl_json, namespace, 50)
            break
        except WindowMissedError as left:
            print(f"attempt {attempt}: {left}")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{hpa_controller_log(operator, namespace)}") from None
    else:
        pytest.fail("the HPA's downscale window passed unseen three times")
    original = kubectl_json("get", "hpa", "web", "-n", namespace)
    took_over_at = time.monotonic()
    out = podpilot(
        operator, "takeover", "hpa", "web", "-n", namespace,
        "--min-evaluations", "5", "--threshold", "0.5",
    ).stdout  # fmt: skip
    assert "took over from horizontalpodautoscaler/web" in out
    assert kubectl("get", "hpa", "web", "-n", namespace, check=False).returncode != 0
    # The seed keeps 4 for a whole window from the takeover: never earlier than the HPA.
    held_a_window_then_scaled_down(kubectl_json, namespace, took_over_at, timeout=60)
    ours = kubectl_json("get", "autoscaler", "web", "-n", namespace)
    assert ours["spec"]["mode"] == "Active"
    assert {"TakeoverSeeded", "HpaDeleted"} <= event_reasons(kubectl_json, namespace)

    # (c) Undo: the same HPA again, the twin back to DryRun, and the HPA scales.
    out = podpilot(operator, "takeover", "--undo", "hpa", "web", "-n", namespace).stdout
    assert "horizontalpodautoscaler/web restored" in out
    restored = kubectl_json("get", "hpa", "web", "-n", namespace)
    assert restored["spec"] == original["spec"]
    for field in ("labels", "annotations"):
        assert restored["metadata"].get(field) == original["metadata"].get(field)
    ours = kubectl_json("get", "autoscaler", "web", "-n", namespace)
    assert ours["spec"]["mode"] == "DryRun"
    assert "podpilot.io/hpa-manifest" not in ours["metadata"].get("annotations", {})
    settle(200, 4)
    assert {"HpaRestored", "TakeoverUndone"} <= event_reasons(kubectl_json, namespace)


DOWNSCALE_WINDOW = 30.0  # the dev cluster's --horizontal-pod-autoscaler-downscale-stabilization


def hpa_stabilizing(kubectl: Kubectl, kubectl_json: Json, namespace: str) -> bool:
    """True while the HPA holds 4 in its downscale window; otherwise fail with what it shows."""
    status = kubectl_json("get", "hpa", "web", "-n", namespace).get("status", {})
    reasons = {c.get("reason") for c in status.get("conditions", [])}
    if status.get("desiredReplicas") == 4 and "ScaleDownStabilized" in reasons:
        return True
    if (status.get("desiredReplicas") or 4) < 4:
        raise WindowMissedError(f"the HPA went on to {status['desiredReplicas']} unseen")
    raw = kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    pod_metrics = json.loads(raw.stdout)["items"]
    shown = {
        "desiredReplicas": status.get("desiredReplicas"),
        "currentReplicas": status.get("currentReplicas"),
        "conditions": [(c.get("reason"), c.get("message")) for c in status.get("conditions", [])],
        "currentMetrics": status.get("currentMetrics"),
        "podMetrics": {
            item["metadata"]["name"]: (item["timestamp"], item["containers"])
            for item in pod_metrics
        },
    }
    raise AssertionError(f"the HPA shows {shown}")


class WindowMissedError(Exception):
    """The HPA's downscale window passed before a poll saw it (not an AssertionError, so the
    wait ends at once)."""


def hpa_controller_log(operator: OperatorProcess, namespace: str) -> str:
    """What kube-controller-manager logged about this test's namespace, for a failure."""
    path = operator.cluster.log_dir / "kube-controller-manager.log"
    lines = [line for line in path.read_text(errors="replace").splitlines() if namespace in line]
    return "kube-controller-manager about this namespace:\n" + "\n".join(lines[-40:])


def held_a_window_then_scaled_down(
    kubectl_json: Json, namespace: str, took_over_at: float, timeout: float
) -> None:
    """After a takeover at ``took_over_at`` (monotonic): 4 replicas, never fewer, for a whole
    downscale window, then 4 -> 2 within ``timeout`` and not before the window passed."""
    while time.monotonic() < took_over_at + DOWNSCALE_WINDOW - 3:
        assert spec_replicas(kubectl_json, namespace, "web") == 4, "scaled down inside the window"
        time.sleep(1)
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 2,
        timeout=timeout,
        interval=1,
        what="the Autoscaler to scale 4 -> 2 once the seeded window has passed",
    )
    assert time.monotonic() - took_over_at >= DOWNSCALE_WINDOW - 1


def wait_for_the_hpa_to_stabilize_at_four_on(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, total_millicores: int
) -> None:
    """Lower the load and wait until the HPA holds 4 in its downscale window. The load is
    spread again at each poll: a pod created by the last scale-up may appear after the first
    spread with the template's usage. The lower usage reaches the HPA through metrics-server's
    scrape (two for a new pod) and the HPA's sync; the condition then lasts the 30 s window."""

    def stabilizing() -> bool:
        spread_load(kubectl, kubectl_json, namespace, total_millicores)
        return hpa_stabilizing(kubectl, kubectl_json, namespace)

    wait_until(
        stabilizing,
        timeout=120,
        interval=1,
        what="the HPA to hold 4 replicas in its downscale window (ScaleDownStabilized)",
    )


def event_reasons(kubectl_json: Json, namespace: str) -> set[str]:
    events = kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.kind=Autoscaler"
    )["items"]
    return {event.get("reason") for event in events}


def podpilot(operator: OperatorProcess, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with the dev cluster's kubeconfig; its stderr on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "podpilot", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(operator.cluster.kubeconfig)},
    )
    assert done.returncode == 0, f"podpilot {' '.join(argv)}: {done.returncode} {done.stderr}"
    return done


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def test_converted_manifest_explained(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    """``podpilot convert`` output is applied as is; ``podpilot explain`` tells the decision."""
    hpa = copy.deepcopy(HPA)
    converted = subprocess.run(
        [sys.executable, "-m", "podpilot", "convert", "-"],
        input=yaml.safe_dump(hpa),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    apply(kubectl, namespace, deployment("web", 2, usage_cpu="100m"))
    kubectl("apply", "-n", namespace, "-f", "-", input=converted)
    wait_until(
        lambda: spec_replicas(kubectl_json, namespace, "web") == 4,
        timeout=90,
        what="the converted Autoscaler to scale 2 -> 4",
    )
    text = subprocess.run(
        [sys.executable, "-m", "podpilot", "explain", "-n", namespace, "web"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "KUBECONFIG": str(operator.cluster.kubeconfig)},
    ).stdout
    assert "Deployment/web" in text
    assert "cpu resource utilization (percentage of request)" in text
    assert "Rescaled" in text or "NoChange" in text
