"""A metric the CRD refuses is refused by ``convert``, ``backtest`` and ``recommend`` as the
apiserver would refuse it: one line naming the file and the field, exit status 1, and for
``backtest`` and ``recommend`` before Prometheus is asked (it once reached the engine, which
divided by the missing target: ``internal error (ZeroDivisionError ...)``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import backtest_history as known
from tests.unit.commands.convert_runs import converting, manifest

from podpilot.cli import main
from podpilot.commands.conventions import EXIT_FAILED

# Nothing listens there; a query would end in exit status 3, "cannot connect".
URL = ["--prometheus", "http://127.0.0.1:1"]
COMMANDS = {"backtest": [], "recommend": ["--ceiling", "80%"]}
PROMETHEUS = {
    "type": "Prometheus",
    "prometheus": {
        "serverRef": {"name": "main"},
        "query": "sum(rate(http_requests_total[2m]))",
        "target": {"type": "AverageValue", "averageValue": "100"},
    },
}


def with_metric(metric: dict[str, Any]) -> dict[str, Any]:
    autoscaler = copy.deepcopy(known.autoscaler())
    autoscaler["spec"]["metrics"] = [metric]
    return autoscaler


def cpu_target(target: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def prometheus_with(**fields: Any) -> dict[str, Any]:
    metric = copy.deepcopy(PROMETHEUS)
    metric["prometheus"].update(fields)
    return metric


REFUSED = [
    pytest.param(
        cpu_target({"type": "Utilization"}),
        "spec.metrics[0].resource.target.averageUtilization must be set if and only if "
        "target.type is Utilization; set only the field that target.type names",
        id="utilization-without-its-percent",
    ),
    pytest.param(
        {"type": "Resource", "resource": {"name": "cpu"}},
        "spec.metrics[0].resource.target: Required value",
        id="no-target",
    ),
    pytest.param(
        cpu_target({"type": "Utilization", "averageUtilization": 0}),
        "spec.metrics[0].resource.target.averageUtilization must be at least 1 (percent of the "
        "pods' requests), not 0",
        id="utilization-zero",
    ),
    pytest.param(
        cpu_target({"type": "Value", "value": "2"}),
        "spec.metrics[0].resource.target.type must be Utilization or AverageValue for this "
        "metric source; a Value target is not defined for per-pod resources",
        id="value-target-on-resource",
    ),
    pytest.param(
        prometheus_with(target={"type": "Utilization", "averageUtilization": 50}),
        "spec.metrics[0].prometheus.target.type must be Value or AverageValue for this metric "
        "source; Utilization is only defined for resource metrics",
        id="utilization-target-on-prometheus",
    ),
    pytest.param(
        cpu_target({"type": "Foo", "averageUtilization": 50}),
        'spec.metrics[0].resource.target.type: Unsupported value: "Foo": supported values: '
        '"Utilization", "Value", "AverageValue"',
        id="target-type-unknown",
    ),
    pytest.param(
        {**cpu_target({"type": "Utilization", "averageUtilization": 50}), "type": "Foo"},
        'spec.metrics[0].type: Unsupported value: "Foo": supported values: "Resource", '
        '"ContainerResource", "Pods", "Object", "External", "Prometheus"',
        id="metric-type-unknown",
    ),
    pytest.param(
        prometheus_with(reduction="Foo"),
        'spec.metrics[0].prometheus.reduction: Unsupported value: "Foo": supported values: '
        '"Sum", "Max", "Min", "Average"',
        id="reduction-unknown",
    ),
    pytest.param(
        prometheus_with(emptyResult="Foo"),
        'spec.metrics[0].prometheus.emptyResult: Unsupported value: "Foo": supported values: '
        '"Error", "Zero"',
        id="empty-result-unknown",
    ),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("metric", "said"), REFUSED)
def test_backtest_and_recommend_refuse_it_before_any_query(
    command: str,
    metric: dict[str, Any],
    said: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "autoscaler.yaml"
    file.write_text(yaml.safe_dump(with_metric(metric)), encoding="utf-8")

    status = main([command, "-f", str(file), *URL, *COMMANDS[command]])

    captured = capsys.readouterr()
    assert (status, captured.out) == (EXIT_FAILED, "")
    assert captured.err.splitlines() == [f"podpilot {command}: error: {file}: {said}"]


HPA_METRICS = [
    pytest.param(
        "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization}}",
        "spec.metrics[0].resource.target.averageUtilization must be set if and only if "
        "target.type is Utilization; set only the field that target.type names",
        id="utilization-without-its-percent",
    ),
    pytest.param(
        "  metrics:\n  - type: Pods\n    pods: {metric: {name: rps}}",
        "spec.metrics[0].pods.target: Required value",
        id="no-target",
    ),
    pytest.param(
        "  metrics:\n  - type: External\n    external: {metric: {name: queue}, target: "
        "{type: Utilization, averageUtilization: 50}}",
        "spec.metrics[0].external.target.type must be Value or AverageValue for this metric "
        "source; Utilization is only defined for resource metrics",
        id="utilization-target-on-external",
    ),
    pytest.param(
        "  metrics:\n  - type: Object\n    object: {describedObject: {apiVersion: v1, kind: "
        "Service, name: web}, metric: {name: rps}, target: {type: Foo, value: 1}}",
        'spec.metrics[0].object.target.type: Unsupported value: "Foo": supported values: '
        '"Utilization", "Value", "AverageValue"',
        id="target-type-unknown",
    ),
]


@pytest.mark.parametrize(("metrics", "said"), HPA_METRICS)
def test_convert_refuses_an_hpa_whose_autoscaler_the_crd_would_refuse(
    metrics: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = manifest(spec=f"  maxReplicas: 10\n{metrics}")

    assert converting(text, tmp_path, capsys) == (
        EXIT_FAILED,
        "",
        [f"podpilot convert: error: FILE, document 1: {said}"],
    )


def test_convert_refuses_an_autoscaling_v1_target_of_zero_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = manifest(spec="  maxReplicas: 10\n  targetCPUUtilizationPercentage: 0").replace(
        "autoscaling/v2", "autoscaling/v1"
    )

    assert converting(text, tmp_path, capsys) == (
        EXIT_FAILED,
        "",
        [
            "podpilot convert: error: FILE, document 1: spec.metrics[0].resource.target."
            "averageUtilization must be at least 1 (percent of the pods' requests), not 0"
        ],
    )


def test_convert_still_converts_what_the_crd_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = manifest(
        spec="  maxReplicas: 10\n  metrics:\n  - type: Resource\n    resource: {name: cpu, "
        "target: {type: Utilization, averageUtilization: 1}}"
    )

    status, out, err = converting(text, tmp_path, capsys)

    assert (status, err) == (0, [])
    assert yaml.safe_load(out)["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 1,
    }
