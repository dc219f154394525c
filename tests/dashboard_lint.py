"""A small re-implementation of Grafana's dashboard-linter rules (grafana/dashboard-linter on
GitHub) for Prometheus dashboards, since the linter itself cannot be installed here.

Each rule is a function from a dashboard (parsed JSON) to the problems it finds, named as the
linter names it. ``target-promql-rule`` needs a PromQL parser: :func:`expressions_for_promql`
hands the expressions, Grafana's variables replaced, to ``promtool`` (see the test). The
``target-logql`` rules do not apply: podpilot's dashboards have no Loki targets. The unit list
is the part of Grafana's that podpilot's panels could use; the linter's is longer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

Dashboard = dict[str, Any]
Panel = dict[str, Any]

TEMPLATED_DATASOURCES = {"$datasource", "${datasource}"}
QUERY_PANELS = {"singlestat", "graph", "table", "timeseries"}  # panel-datasource-rule
DESCRIBED_PANELS = {"stat", "singlestat", "graph", "table", "timeseries", "gauge"}
VALID_UNITS = {
    "none", "short", "percent", "percentunit", "bytes", "decbytes", "bits", "Bps", "binBps",
    "ns", "µs", "ms", "s", "m", "h", "d", "dtdurations", "dateTimeAsIso", "dateTimeFromNow",
    "ops", "reqps", "rps", "wps", "iops", "cps", "opm", "rpm", "cpm", "bool", "bool_yes_no",
}  # fmt: skip
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
OPERATOR_WORDS = {"and", "or", "unless", "bool", "offset", "atan2"}
TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<range>\[[^\]]*\])
      |(?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?)(?:[smhdwy]|ms)?)
      |(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
      |(?P<matcher>=~|!~|!=|=)
      |(?P<punct>[{}(),])
      |(?P<other>\S)""",
    re.VERBOSE,
)


@dataclass
class Selector:
    """One vector selector: its metric name (may be empty) and its label matchers."""

    metric: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)
    range: str | None = None  # ``[...]`` right after it
    call: str | None = None  # the function it is an argument of, if any


def _tokens(expr: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "", m.group()) for m in TOKEN.finditer(expr)]


def _matching(tokens: list[tuple[str, str]], start: int, open_: str, close: str) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        if tokens[index][1] == open_:
            depth += 1
        elif tokens[index][1] == close:
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced {open_}{close}")


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression, with the call that encloses it."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    calls: list[str | None] = []  # one entry per open parenthesis
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "name" and text in LABEL_LISTS and following == "(":
            index = _matching(tokens, index + 1, "(", ")") + 1
            continue
        if kind == "name" and following == "(":
            calls.append(text)
            index += 2
            continue
        if text == "(":
            calls.append(None)
        elif text == ")":
            calls.pop()
        elif (
            kind == "name" and text not in AGGREGATIONS | OPERATOR_WORDS | LABEL_LISTS
        ) or text == "{":
            selector = Selector(text if kind == "name" else "", call=calls[-1] if calls else None)
            if text != "{" and following == "{":
                index += 1
            if tokens[index][1] == "{":
                end = _matching(tokens, index, "{", "}")
                body = tokens[index + 1 : end]
                for at in range(0, len(body), 4):  # name op "value" [,]
                    name, op, value = (token[1] for token in body[at : at + 3])
                    selector.matchers.append((name, op, value[1:-1]))
                index = end
            if index + 1 < len(tokens) and tokens[index + 1][0] == "range":
                index += 1
                selector.range = tokens[index][1][1:-1]
            found.append(selector)
        index += 1
    return found


def _template(dashboard: Dashboard, name: str) -> dict[str, Any] | None:
    return next((t for t in _templates(dashboard) if t.get("name") == name), None)


def _templates(dashboard: Dashboard) -> list[dict[str, Any]]:
    templates: list[dict[str, Any]] = dashboard.get("templating", {}).get("list", [])
    return templates


def _uid(holder: dict[str, Any]) -> str:
    source = holder.get("datasource")
    return str(source.get("uid", "")) if isinstance(source, dict) else str(source or "")


def _panels(dashboard: Dashboard) -> Iterator[Panel]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def template_datasource(dashboard: Dashboard) -> list[str]:
    sources = [t for t in _templates(dashboard) if t.get("type") == "datasource"]
    if not sources:
        return ["no templated data source"]
    problems = []
    for source in sources:
        query = str(source.get("query", ""))
        names = {f"{query.lower()}_datasource"} | ({"datasource"} if len(sources) == 1 else set())
        labels = {f"{query.title()} data source"} | (
            {"Data source"} if len(sources) == 1 else set()
        )
        if source.get("name") not in names:
            problems.append(f"data source variable {source.get('name')!r} not in {names}")
        if source.get("label") not in labels:
            problems.append(f"data source variable labelled {source.get('label')!r}, not {labels}")
    return problems


def _check_variable(dashboard: Dashboard, name: str) -> list[str]:
    """template-job-rule and template-instance-rule: the ``name`` variable as the linter wants."""
    template = _template(dashboard, name)
    if template is None:
        return [f"no {name} variable"]
    problems = []
    if _uid(template) not in TEMPLATED_DATASOURCES:
        problems.append(f"{name} variable does not use $datasource: {_uid(template)!r}")
    if template.get("type") != "query":
        problems.append(f"{name} variable is not a query")
    if template.get("label") != name.title():
        problems.append(f"{name} variable is labelled {template.get('label')!r}")
    if not template.get("multi"):
        problems.append(f"{name} variable is not multi-select")
    if template.get("allValue") != ".+":
        problems.append(f"{name} variable allValue is {template.get('allValue')!r}, not '.+'")
    return problems


def template_on_time_change_reload(dashboard: Dashboard) -> list[str]:
    return [
        f"variable {t.get('name')!r} refreshes with {t.get('refresh')!r}, not 2 (time range change)"
        for t in _templates(dashboard)
        if t.get("type") == "query" and t.get("refresh") != 2
    ]


def panel_datasource(dashboard: Dashboard) -> list[str]:
    return [
        f"panel {p.get('title')!r} uses data source {_uid(p)!r}"
        for p in _panels(dashboard)
        if p.get("type") in QUERY_PANELS and _uid(p) not in TEMPLATED_DATASOURCES
    ]


def panel_title_description(dashboard: Dashboard) -> list[str]:
    return [
        f"panel {p.get('id')} has no title or no description"
        for p in _panels(dashboard)
        if p.get("type") in DESCRIBED_PANELS and not (p.get("title") and p.get("description"))
    ]


def panel_units(dashboard: Dashboard) -> list[str]:
    problems = []
    for panel in _panels(dashboard):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        if panel.get("type") in DESCRIBED_PANELS and unit not in VALID_UNITS:
            problems.append(f"panel {panel.get('title')!r} has no or an invalid unit: {unit!r}")
    return problems


def _targets(dashboard: Dashboard) -> Iterator[tuple[Panel, dict[str, Any]]]:
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel, target


def _required_matcher(dashboard: Dashboard, label: str) -> list[str]:
    problems = []
    for panel, target in _targets(dashboard):
        for selector in selectors(target["expr"]):
            matcher = next((m for m in selector.matchers if m[0] == label), None)
            if matcher != (label, "=~", f"${label}"):
                problems.append(
                    f"panel {panel.get('title')!r} {target.get('refId')}: "
                    f'{selector.metric or "{}"} has {matcher!r}, not {label}=~"${label}"'
                )
    return problems


def target_rate_interval(dashboard: Dashboard) -> list[str]:
    problems = []
    for panel, target in _targets(dashboard):
        for selector in selectors(target["expr"]):
            if selector.range is None:
                continue
            uses = selector.range == "$__rate_interval"
            if selector.call in {"rate", "irate"} and not uses:
                problems.append(f"panel {panel.get('title')!r}: rate over [{selector.range}]")
            if uses and selector.call is None:
                problems.append(f"panel {panel.get('title')!r}: $__rate_interval outside a call")
    return problems


RULES: dict[str, Callable[[Dashboard], list[str]]] = {
    "template-datasource-rule": template_datasource,
    "template-job-rule": partial(_check_variable, name="job"),
    "template-instance-rule": partial(_check_variable, name="instance"),
    "template-on-time-change-reload": template_on_time_change_reload,
    "panel-datasource-rule": panel_datasource,
    "panel-title-description-rule": panel_title_description,
    "panel-units-rule": panel_units,
    "target-job-rule": partial(_required_matcher, label="job"),
    "target-instance-rule": partial(_required_matcher, label="instance"),
    "target-rate-interval-rule": target_rate_interval,
    "uneditable-dashboard": lambda d: [] if d.get("editable") is False else ["editable"],
}


def lint(dashboard: Dashboard) -> list[str]:
    """``"<rule>: <problem>"`` for every problem every rule finds."""
    return [f"{name}: {problem}" for name, rule in RULES.items() for problem in rule(dashboard)]
