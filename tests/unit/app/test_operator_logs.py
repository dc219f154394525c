"""The operator's log: kopf's per-handler success reports at DEBUG, decisions and errors at their
level, as text or as JSON lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from podpilot.app.logs import configure

KOPF_REF = {
    "k8s_ref": {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "node-1",
        "namespace": None,
        "uid": "u",
    }
}
AUTOSCALER_REF = {
    "k8s_ref": {"apiVersion": "podpilot.io/v1alpha1", "kind": "Autoscaler", "name": "web",
                "namespace": "shop", "uid": "u"}
}  # fmt: skip


@pytest.fixture(autouse=True)
def restored_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def log_a_busy_minute() -> None:
    kopf = logging.getLogger("kopf.objects")
    kopf.info("Handler 'flannel_node_event' succeeded.", extra=KOPF_REF)
    kopf.info("Resuming is processed: 1 succeeded; 0 failed.", extra=KOPF_REF)
    kopf.info("Timer 'evaluate' succeeded.", extra=AUTOSCALER_REF)
    kopf.error("Handler 'flannel_node_event' failed temporarily: boom", extra=KOPF_REF)
    logging.getLogger("podpilot.autoscaler").info("shop/web: scaled 2 -> 6 (cpu 150%/50%)")


def test_kopfs_success_reports_are_debug_and_decisions_and_errors_stay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(verbose=False)

    log_a_busy_minute()

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        "ERROR   kopf.objects: [node-1] Handler 'flannel_node_event' failed temporarily: boom"
    )
    assert lines[1].endswith("INFO    podpilot.autoscaler: shop/web: scaled 2 -> 6 (cpu 150%/50%)")


def test_verbose_shows_kopfs_success_reports_as_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure(verbose=True)

    log_a_busy_minute()

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5
    assert lines[0].endswith(
        "DEBUG   kopf.objects: [node-1] Handler 'flannel_node_event' succeeded."
    )
    assert lines[2].endswith("DEBUG   kopf.objects: [shop/web] Timer 'evaluate' succeeded.")


def test_failure_counts_and_start_up_activities_stay_at_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(verbose=False)

    logging.getLogger("kopf.objects").info("Update is processed: 0 succeeded; 1 failed.")
    logging.getLogger("kopf.activities.authentication").info("Activity 'login' succeeded.")

    text = capsys.readouterr().err
    assert "INFO    kopf.objects: Update is processed: 0 succeeded; 1 failed." in text
    assert "Activity 'login' succeeded." in text


def test_json_lines_carry_the_object_and_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    configure(verbose=False, log_format="json")

    log_a_busy_minute()
    try:
        raise RuntimeError("no /scale")
    except RuntimeError:
        logging.getLogger("podpilot.autoscaler").exception("shop/web: evaluation failed")

    failure, decision, error = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert failure["level"] == "ERROR"
    assert (failure["kind"], failure["name"]) == ("Node", "node-1")
    assert "namespace" not in failure
    assert decision == {
        "time": decision["time"],
        "level": "INFO",
        "logger": "podpilot.autoscaler",
        "message": "shop/web: scaled 2 -> 6 (cpu 150%/50%)",
    }
    assert decision["time"].endswith("+00:00")
    assert error["message"] == "shop/web: evaluation failed"
    assert error["error"].startswith("Traceback") and "RuntimeError: no /scale" in error["error"]


def test_run_takes_the_log_format() -> None:
    from podpilot.cli import build_parser

    parser = build_parser(only="run")

    assert parser.parse_args(["run"]).log_format == "text"
    assert parser.parse_args(["run", "--log-format", "json"]).log_format == "json"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--log-format", "yaml"])
