"""Every dashboard the chart ships passes Grafana's dashboard-linter rules (as re-implemented in
``tests/dashboard_lint.py``), and that checker finds each kind of problem it is for."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.dashboard_lint import Selector, lint, selectors
from tests.observability_assets import (
    DASHBOARDS,
    dashboard_expressions,
    promtool,
    requires_promtool,
)


def test_the_chart_ships_one_dashboard_per_controller() -> None:
    assert {path.stem for path in DASHBOARDS} == {
        "podpilot-autoscaler",
        "podpilot-emptydir",
        "podpilot-flannel",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_passes_the_linter_rules(path: Path) -> None:
    document = json.loads(path.read_text())
    assert lint(document) == []
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    assert (
        len({document["uid"] for document in map(json.loads, map(Path.read_text, DASHBOARDS))}) == 3
    )


@requires_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """target-promql-rule, with promtool's parser: each query becomes a recording rule."""
    expressions = dashboard_expressions()
    rules = [{"record": f"podpilot:dashboard_query_{n}", "expr": expr}
             for n, expr in enumerate(expressions.values())]  # fmt: skip
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    promtool("check", "rules", str(path))


def test_selectors_are_found_with_their_matchers_range_and_call() -> None:
    expr = (
        'sum by (a) (rate(x_total{job=~"$job", b!="}"}[5m])) / on (c) group_left y'
        ' + topk(3, {__name__="z"}) > bool 2'
    )
    assert selectors(expr) == [
        Selector("x_total", [("job", "=~", "$job"), ("b", "!=", "}")], "5m", "rate"),
        Selector("y"),
        Selector("", [("__name__", "=", "z")], call="topk"),
    ]


AUTOSCALER = json.loads(DASHBOARDS[0].read_text())


def first_target(document: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = document["panels"][2]["targets"][0]
    return target


def without_job_filter(d: dict[str, Any]) -> None:
    first_target(d)["expr"] = first_target(d)["expr"].replace('job=~"$job",', "")


def fixed_rate_range(d: dict[str, Any]) -> None:
    first_target(d)["expr"] = first_target(d)["expr"].replace("$__rate_interval", "5m")


def template(d: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in d["templating"]["list"] if t["name"] == name)
    return found


BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "target-job-rule": without_job_filter,
    "target-instance-rule": lambda d: first_target(d).update(
        expr="sum(rate(up[$__rate_interval]))"
    ),
    "target-rate-interval-rule": fixed_rate_range,
    "panel-title-description-rule": lambda d: d["panels"][0].pop("description"),
    "panel-units-rule": lambda d: d["panels"][0]["fieldConfig"]["defaults"].pop("unit"),
    "panel-datasource-rule": lambda d: d["panels"][0].update(datasource={"uid": "prom-1"}),
    "template-job-rule": lambda d: template(d, "job").update(allValue=".*"),
    "template-instance-rule": lambda d: d["templating"]["list"].remove(template(d, "instance")),
    "template-datasource-rule": lambda d: template(d, "datasource").update(name="ds"),
    "template-on-time-change-reload": lambda d: template(d, "namespace").update(refresh=1),
    "uneditable-dashboard": lambda d: d.update(editable=True),
}


@pytest.mark.parametrize("rule", BREAKAGES)
def test_the_checker_finds_what_each_rule_is_for(rule: str) -> None:
    broken = copy.deepcopy(AUTOSCALER)
    BREAKAGES[rule](broken)
    assert {problem.split(":")[0] for problem in lint(broken)} >= {rule}
