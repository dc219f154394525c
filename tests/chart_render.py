"""Run the chart tools the dev toolchain builds (helm, helm-docs) offline, with no cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "podpilot"
VALUES = REPO / "tests" / "data" / "chart-values"

# `helm template` flags for a cluster that serves prometheus-operator's APIs: without them the
# chart leaves out its ServiceMonitor and PrometheusRule, as it does on such a cluster.
PROMETHEUS_OPERATOR_APIS = (
    "--api-versions=monitoring.coreos.com/v1/ServiceMonitor",
    "--api-versions=monitoring.coreos.com/v1/PrometheusRule",
)

Helm = Callable[..., subprocess.CompletedProcess[str]]
Render = Callable[..., list[dict[str, Any]]]


def built_tool(name: str) -> Path:
    """The cached binary of a toolchain component, or a skip that says how to build it."""
    from podpilot_dev import toolchain

    try:
        binary = toolchain.locate_all().get(name)
    except toolchain.ToolchainError as error:
        pytest.skip(f"{name} is not built ({error}); run `scripts/dev cluster build` once")
    if binary is None:
        pytest.skip(f"{name} is not built yet; `scripts/dev cluster build` builds it")
    return binary


def helm_runner(binary: Path, home: Path) -> Helm:
    """helm with its cache, config and data in ``home``, never the user's."""
    env = {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, env=env, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    return run


def renderer(helm: Helm) -> Render:
    """`helm template rel <chart> --namespace=ops ...`, parsed into documents."""

    def run(*args: str, chart: Path = CHART) -> list[dict[str, Any]]:
        out = helm("template", "rel", str(chart), "--namespace=ops", *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return run


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]
