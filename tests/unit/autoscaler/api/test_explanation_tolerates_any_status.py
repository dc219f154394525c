"""``explain`` and its ``-o wide`` row read every field as optional and of any type: the CRD
requires few of them, and a field missing or of another type is shown as unknown, never a
crash."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podpilot.autoscaler.api.explanation import condition_line, explain, summary_table


def evaluated() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"mode": "DryRun", "maxReplicas": 5},
        "status": {
            "reference": "Deployment/web",
            "lastDecision": {
                "evaluatedAt": "2026-12-02T10:00:00Z",
                "currentReplicas": 2,
                "action": "DryRun",
                "winner": 0,
                "metrics": [
                    {
                        "index": 0,
                        "type": "Resource",
                        "name": "cpu",
                        "current": {"averageUtilization": 50},
                        "proposedReplicas": 2,
                    }
                ],
                "explanation": ["metric 0 proposes 2"],
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "Evaluated"}],
            "shadow": {"hpa": "web", "evaluations": 3, "agreed": 2, "skipped": 1},
            "takeover": {"from": "hpa/web", "seededAt": "2026-12-02T09:00:00Z", "replicas": 3},
        },
    }


def test_a_condition_without_a_reason_shows_none() -> None:
    assert condition_line({"type": "Ready", "status": "True"}) == "Ready=True: "
    assert condition_line({"type": "Ready", "status": "False", "message": "m"}) == (
        "Ready=False: m"
    )
    assert condition_line({}) == "?=?: "


def test_an_autoscaler_whose_condition_has_no_reason_is_explained() -> None:
    autoscaler = evaluated()
    autoscaler["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert "  Ready=True: " in explain(autoscaler).splitlines()


MALFORMED = {
    "metadata a string": (["metadata"], "web"),
    "metadata a list": (["metadata"], []),
    "spec a string": (["spec"], "x"),
    "mode a number": (["spec", "mode"], 3),
    "status a list": (["status"], [1]),
    "lastDecision a string": (["status", "lastDecision"], "x"),
    "metrics a string": (["status", "lastDecision", "metrics"], "abc"),
    "a metric a string": (["status", "lastDecision", "metrics"], ["abc"]),
    "a metric without index": (["status", "lastDecision", "metrics"], [{"proposedReplicas": 2}]),
    "a reading a list": (
        ["status", "lastDecision", "metrics"],
        [{"index": 0, "proposedReplicas": 2, "current": [1]}],
    ),
    "explanation a number": (["status", "lastDecision", "explanation"], 5),
    "conditions a string": (["status", "conditions"], "abc"),
    "a condition a string": (["status", "conditions"], ["abc"]),
    "a condition empty": (["status", "conditions"], [{}]),
    "evaluations a string": (["status", "shadow", "evaluations"], "many"),
    "disagreement sides not objects": (
        ["status", "shadow", "lastDisagreement"],
        {"ours": "x", "hpa": 3},
    ),
    "takeover a string": (["status", "takeover"], "x"),
    "seededAt a number": (["status", "takeover", "seededAt"], 5),
}


def with_field(path: list[str], value: object) -> dict[str, Any]:
    autoscaler = evaluated()
    parent: Any = autoscaler
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = copy.deepcopy(value)
    return autoscaler


@pytest.mark.parametrize(("path", "value"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_field_missing_or_of_another_type_is_shown_as_unknown(
    path: list[str], value: object
) -> None:
    autoscaler = with_field(path, value)
    assert explain(autoscaler)
    for with_namespace in (False, True):
        assert len(summary_table([autoscaler], with_namespace).splitlines()) == 2


def test_what_is_readable_is_still_shown_beside_what_is_not() -> None:
    autoscaler = with_field(["status", "shadow", "evaluations"], "many")
    autoscaler["status"]["conditions"].append("abc")
    text = explain(autoscaler)
    assert "  Ready=True (Evaluated): " in text.splitlines()
    assert "Shadowing HPA web: agreed 2 of 0 comparable evaluations, 1 not comparable" in text
    assert "metric 0 Resource cpu: averageUtilization 50 -> proposes 2 (winner)" in text


def test_a_wide_row_of_an_autoscaler_with_nothing_readable() -> None:
    table = summary_table([{"metadata": "x", "spec": [], "status": "y"}], with_namespace=True)
    row = table.splitlines()[1].split()
    assert row == ["<none>", "<none>", "<none>", "Active", "<none>", "<none>", "<none>", "<none>"]
