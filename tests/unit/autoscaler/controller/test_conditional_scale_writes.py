"""``evaluator.act``: the rescale is recorded first, the patch is based on the scale the plan
was decided from, and a conflict is retried once only when the count is unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from podpilot.autoscaler.api.result import Action, EvaluationResult, MetricResult
from podpilot.autoscaler.api.spec import AutoscalerSpec, parse_spec
from podpilot.autoscaler.controller.evaluator import Services, act
from podpilot.autoscaler.engine import MetricOutcome, ReplicaProposal
from podpilot.autoscaler.policy.plan import Memory, Observations, Plan, decide
from podpilot.kube.scale import (
    Scale,
    ScaleClient,
    ScaleConflictError,
    ScaleError,
    ScaleOutcomeUnknownError,
)

NOW = 1_800_000_000.0
SPEC = parse_spec(
    {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
        "behavior": {
            "scaleDown": {
                "stabilizationWindowSeconds": 0,
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
            }
        },
    }
)


class Target:
    """A /scale that refuses a write based on any version but its own, as the apiserver does;
    ``others`` are writes by someone else, applied one per read or write it answers."""

    def __init__(
        self,
        replicas: int,
        version: int,
        others: list[dict[str, Any]],
        patch_error: ScaleError | None = None,
    ) -> None:
        self.replicas, self.version, self.selector = replicas, version, "app=web"
        self.others = others
        self.patch_error = patch_error
        self.log: list[str] = []

    def _someone_else(self) -> None:
        if self.others:
            change = self.others.pop(0)
            self.replicas = change.get("replicas", self.replicas)
            self.version += 1

    async def get(
        self, namespace: str, api_version: str, kind: str, name: str, watched: Any = None
    ) -> Scale:
        self.log.append("get")
        return Scale(self.replicas, self.replicas, self.selector, str(self.version))

    async def set_replicas(
        self,
        namespace: str,
        api_version: str,
        kind: str,
        name: str,
        replicas: int,
        resource_version: str,
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self._someone_else()
        self.log.append(f"patch {replicas} at {resource_version}")
        if resource_version != str(self.version):
            raise ScaleConflictError("FailedRescale", f"New size: {replicas}; error: 409 Conflict")
        if self.patch_error is not None and not isinstance(
            self.patch_error, ScaleOutcomeUnknownError
        ):
            raise self.patch_error  # refused: nothing written
        self.replicas, self.version = replicas, self.version + 1
        if self.patch_error is not None:
            raise self.patch_error  # written, and its answer lost


def plan_from(current: int, wanted: int, version: str) -> Plan:
    metric = SPEC.metrics[0]
    proposal = ReplicaProposal(replicas=wanted, current_value=10, usage_ratio=0.2)
    result = MetricResult(metric, MetricOutcome(metric.display_name, proposal))
    observations = Observations(
        NOW, "Deployment/web", current, "app=web", metrics=(result,), resource_version=version
    )
    return decide(SPEC, observations, Memory(None))


def acting(target: Target, plan: Plan, spec: AutoscalerSpec = SPEC) -> EvaluationResult:
    services = Services(scale=cast(ScaleClient, target), sources=None, hpa=None)  # type: ignore[arg-type]

    async def record(planned: Plan) -> None:
        step = planned.result
        target.log.append(f"record {step.current_replicas}->{step.desired_replicas}")

    return asyncio.run(act(plan, spec, "team", services, record))


def able(result: EvaluationResult) -> tuple[bool, str]:
    found = [(c.status, c.reason) for c in result.conditions if c.type == "AbleToScale"]
    return found[-1]


def test_the_rescale_is_recorded_before_the_patch_based_on_the_version_read() -> None:
    target = Target(replicas=4, version=7, others=[])
    result = acting(target, plan_from(4, 1, "7"))
    assert target.log == ["record 4->3", "patch 3 at 7"]
    assert (result.action, result.rescaled, target.replicas) == (Action.RESCALED, True, 3)
    assert able(result) == (True, "SucceededRescale")
    assert len(result.history.scale_down_events) == 1


def test_a_conflict_from_a_change_of_count_is_reported_and_nothing_is_overwritten() -> None:
    target = Target(replicas=4, version=7, others=[{"replicas": 6}])  # kubectl scale --replicas=6
    result = acting(target, plan_from(4, 1, "7"))
    assert target.log == ["record 4->3", "patch 3 at 7", "get"]
    assert target.replicas == 6
    assert (result.action, result.rescaled) == (Action.FAILED, False)
    assert able(result) == (False, "FailedUpdateScale")
    assert result.events[-1].reason == "FailedRescale"
    assert "changed from 4 to 6" in result.events[-1].message
    assert result.history.scale_down_events == ()


def test_a_conflict_without_a_change_of_count_sends_the_same_step_once_more() -> None:
    target = Target(replicas=4, version=7, others=[{}])  # e.g. the Deployment's status moved
    result = acting(target, plan_from(4, 1, "7"))
    assert target.log == ["record 4->3", "patch 3 at 7", "get", "patch 3 at 8"]
    assert (result.action, target.replicas) == (Action.RESCALED, 3)
    assert [event.replica_change for event in result.history.scale_down_events] == [1]


def test_a_second_conflict_is_reported_not_retried() -> None:
    target = Target(replicas=4, version=7, others=[{}, {}])
    result = acting(target, plan_from(4, 1, "7"))
    assert target.log == ["record 4->3", "patch 3 at 7", "get", "patch 3 at 8"]
    assert (result.action, target.replicas) == (Action.FAILED, 4)
    assert able(result) == (False, "FailedUpdateScale")
    assert "the target changed since they were read" in result.events[-1].message


def test_a_failed_record_sends_no_patch() -> None:
    target = Target(replicas=4, version=7, others=[])
    services = Services(scale=cast(ScaleClient, target), sources=None, hpa=None)  # type: ignore[arg-type]

    async def refuse(planned: Plan) -> None:
        raise ScaleError("FailedRescale", "status write refused")

    async def run() -> None:
        await act(plan_from(4, 1, "7"), SPEC, "team", services, refuse)

    with pytest.raises(ScaleError, match="status write refused"):
        asyncio.run(run())
    assert target.log == [] and target.replicas == 4


def test_a_patch_without_an_answer_fails_and_still_counts_its_step() -> None:
    """Applied or not, nobody knows: the step is in the history, so the next one waits for
    the policy period instead of taking a second step inside it."""
    lost = ScaleOutcomeUnknownError("FailedRescale", "New size: 3; error: no answer within 30 s")
    target = Target(replicas=4, version=7, others=[], patch_error=lost)
    result = acting(target, plan_from(4, 1, "7"))
    assert (result.action, result.rescaled, target.replicas) == (Action.FAILED, False, 3)
    assert able(result) == (False, "FailedUpdateScale")
    assert [event.replica_change for event in result.history.scale_down_events] == [1]


def test_a_refused_patch_counts_no_step() -> None:
    refused = ScaleError("FailedRescale", "New size: 3; error: 422 Unprocessable Entity")
    target = Target(replicas=4, version=7, others=[], patch_error=refused)
    result = acting(target, plan_from(4, 1, "7"))
    assert (result.action, target.replicas) == (Action.FAILED, 4)
    assert result.history.scale_down_events == ()
