"""podpilot's Grafana dashboards and Prometheus rules as the chart ships them, and every PromQL
expression in them, with Grafana's variables replaced so Prometheus can run them as written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "podpilot"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
RULE_FILES = sorted((CHART / "rules").glob("*.yaml"))
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$namespace": ".*",
    "$autoscaler": ".*",
    "$job": ".+",
    "$instance": ".+",
}


def runnable(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard_expressions() -> dict[str, str]:
    """``"<file> panel <title> <refId>" -> expr`` for every panel target."""
    found: dict[str, str] = {}
    for path in DASHBOARDS:
        document: dict[str, Any] = json.loads(path.read_text())
        for panel in document.get("panels", []):
            for target in panel.get("targets", []):
                key = f"{path.name} panel {panel['title']!r} {target['refId']}"
                found[key] = runnable(target["expr"])
    return found


def rule_expressions() -> dict[str, str]:
    """``"<file> <alert or record name>" -> expr`` for every rule."""
    found: dict[str, str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                found[f"{path.name} {name}"] = str(rule["expr"]).strip()
    return found


requires_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed"
)


def promtool(*args: str, stdin: str | None = None) -> None:
    """Run ``promtool`` and fail the test with its output unless it succeeds."""
    result = subprocess.run(
        ["promtool", *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
