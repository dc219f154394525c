"""Test tiers: everything under tests/e2e needs the dev cluster and is marked ``e2e``; everything
under tests/kind needs the kind cluster and is marked ``kind``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent / "e2e"
KIND_DIR = Path(__file__).parent / "kind"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parents = Path(item.path).parents
        if E2E_DIR in parents:
            item.add_marker(pytest.mark.e2e)
        elif KIND_DIR in parents:
            item.add_marker(pytest.mark.kind)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under ``CI=true`` a skipped test is a failure: on a fresh machine everything a test needs
    is built or installed by the run itself, so a skip there means a missing build step."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which allows no skip: {reason}"


MEASURED: list[tuple[str, list[tuple[str, object]]]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.user_properties:
        MEASURED.append((report.nodeid, list(report.user_properties)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the fault and benchmark-like tests record (``record_property``), so that a
    plain CI log carries them for docs/reliability.md without ``-s`` or ``--junitxml``."""
    if not MEASURED:
        return
    terminalreporter.section("measured figures")
    for nodeid, properties in MEASURED:
        figures = ", ".join(f"{name}={value}" for name, value in properties)
        terminalreporter.write_line(f"{nodeid}: {figures}")
