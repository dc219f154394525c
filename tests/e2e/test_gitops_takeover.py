"""The GitOps takeover: ``podpilot.io/takeover-from: hpa/web`` on an Active Autoscaler, the HPA
removed in the same commit and deleted by the tool FIRST (as a pruning tool may), the
Autoscaler applied after. The operator seeds the history itself: the count stays at the HPA's
4 for a whole downscale window from the handover, then goes to 2. Reverting the commit (the
HPA back, DryRun, no annotation) removes ``status.takeover``."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.test_autoscaler_parity import (
    HPA,
    Json,
    dry_run_twin,
    event_reasons,
    held_a_window_then_scaled_down,
    wait_for_the_hpa_to_stabilize_at_four_on,
)
from tests.e2e.waiting import wait_until
from tests.e2e.workloads import apply, deployment, spec_replicas, wait_ready

ANNOTATION = "podpilot.io/takeover-from"
# After the HPA shows ScaleDownStabilized: well inside its 30 s window, and late enough that
# the DryRun twin's own last recommendation of 4 (made when the HPA's was) would let it scale
# down before a window from the takeover has passed: only the seed holds the count that long.
INTO_THE_WINDOW = 10.0


def taking_over(hpa: dict[str, Any]) -> dict[str, Any]:
    """The commit's Autoscaler: the DryRun twin made Active, with the annotation."""
    autoscaler = dry_run_twin(hpa)
    autoscaler["spec"]["mode"] = "Active"
    autoscaler["metadata"]["annotations"] = {ANNOTATION: "hpa/web"}
    return autoscaler


def test_gitops_takeover_with_the_hpa_pruned_first_holds_a_window_then_scales_down(
    kubectl: Kubectl, kubectl_json: Json, namespace: str, operator: OperatorProcess
) -> None:
    # Four pods at 50m of 100m each: the HPA's 50% target, so it keeps 4; its twin shadows it.
    apply(kubectl, namespace, deployment("web", 4, usage_cpu="50m"), HPA, dry_run_twin(HPA))
    wait_ready(kubectl_json, namespace, "web", 4)

    def hpa_holds_four() -> bool:
        status = kubectl_json("get", "hpa", "web", "-n", namespace).get("status", {})
        active = any(
            c.get("type") == "ScalingActive" and c.get("status") == "True"
            for c in status.get("conditions", [])
        )
        return active and status.get("desiredReplicas") == 4

    wait_until(hpa_holds_four, timeout=60, interval=1, what="the HPA to compute 4 from its metrics")

    # One replica's worth: the HPA wants its minimum, 2, and holds 4 through its window.
    wait_for_the_hpa_to_stabilize_at_four_on(kubectl, kubectl_json, namespace, 50)
    time.sleep(INTO_THE_WINDOW)
    assert spec_replicas(kubectl_json, namespace, "web") == 4

    # The commit, in a pruning tool's order: the HPA deleted first, then the Autoscaler.
    kubectl("delete", "hpa", "web", "-n", namespace, "--wait=true")
    apply(kubectl, namespace, taking_over(HPA))
    took_over_at = time.monotonic()

    def recorded() -> dict[str, Any] | None:
        status = kubectl_json("get", "autoscaler", "web", "-n", namespace).get("status", {})
        record: dict[str, Any] | None = status.get("takeover")
        return record

    wait_until(
        lambda: (recorded() or {}).get("complete") is True,
        timeout=15,
        interval=1,
        what="status.takeover to record the seed",
    )
    record = recorded()
    assert record is not None
    assert (record["from"], record["replicas"]) == ("hpa/web", 4)
    assert "TakeoverSeeded" in event_reasons(kubectl_json, namespace)

    # The seed keeps 4 for a whole window from the takeover, never less.
    held_a_window_then_scaled_down(kubectl_json, namespace, took_over_at, timeout=30)
    assert "InvalidTakeover" not in event_reasons(kubectl_json, namespace)

    # Undo: the commit reverted. kubectl apply drops the annotation it applied before.
    apply(kubectl, namespace, copy.deepcopy(HPA), dry_run_twin(HPA))
    wait_until(
        lambda: recorded() is None,
        timeout=30,
        interval=1,
        what="the reverted (DryRun, unannotated) Autoscaler to remove status.takeover",
    )
    ours = kubectl_json("get", "autoscaler", "web", "-n", namespace)
    assert ours["spec"]["mode"] == "DryRun"
    assert ANNOTATION not in ours["metadata"].get("annotations", {})
