"""Reading kube-apiserver's audit log: who wrote which /scale, and when (podpilot_dev.audit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from podpilot_dev import audit

START = datetime(2026, 12, 2, 14, 0, 0, tzinfo=UTC)


def event(
    seconds: float,
    user: str,
    *,
    verb: str = "patch",
    subresource: str | None = "scale",
    namespace: str = "t-one",
    code: int = 200,
    stage: str = "ResponseComplete",
) -> dict[str, Any]:
    received = START + timedelta(seconds=seconds)
    reference: dict[str, Any] = {
        "resource": "deployments",
        "namespace": namespace,
        "name": "web",
        "apiGroup": "apps",
        "apiVersion": "v1",
    }
    if subresource:
        reference["subresource"] = subresource
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "0b5b7e4a-3f52-4fd4-9d1e-2c7d5c3b8f21",
        "stage": stage,
        "requestURI": f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
        "verb": verb,
        "user": {"username": user, "groups": ["system:masters", "system:authenticated"]},
        "sourceIPs": ["127.0.0.1"],
        "objectRef": reference,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "stageTimestamp": received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def write_log(path: Path, *events: dict[str, Any], tail: str = "") -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in events) + tail)


def test_an_entry_keeps_who_wrote_what_and_when() -> None:
    entry = audit.parse_entry(json.dumps(event(1.5, "replica-a")))
    assert entry is not None
    assert entry.received == START + timedelta(seconds=1.5)
    assert (entry.username, entry.verb, entry.namespace) == ("replica-a", "patch", "t-one")
    assert (entry.resource, entry.name, entry.subresource) == ("deployments", "web", "scale")
    assert entry.is_write_to("scale") and entry.succeeded
    assert "replica-a patch t-one/deployments/web/scale -> 200" in entry.describe()


def test_lines_that_are_not_answered_requests_are_skipped() -> None:
    lines = [
        json.dumps(event(1, "a", stage="RequestReceived")),
        json.dumps({"kind": "EventList"}),
        '{"kind": "Event", "stage": "ResponseComp',  # being written
        json.dumps(event(2, "b")),
    ]
    assert [entry.username for entry in audit.parse_lines(lines)] == ["b"]


def test_read_keeps_entries_since_the_moment_from_the_log_and_its_backup(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write_log(tmp_path / "audit-2026-12-02T13-59-00.000.log", event(-5, "old"), event(1, "a"))
    write_log(log, event(3, "b"), event(2, "c"), tail='{"kind": "Ev')
    entries = audit.read(log, since=START)
    assert [entry.username for entry in entries] == ["a", "c", "b"]


def test_scale_writes_are_successful_scale_updates_in_one_namespace() -> None:
    entries = list(
        audit.parse_lines(
            json.dumps(item)
            for item in [
                event(1, "a"),
                event(2, "a", verb="update"),
                event(3, "a", code=409),
                event(4, "a", subresource=None),  # the Deployment itself
                event(5, "a", subresource="status"),
                event(6, "a", verb="get"),
                event(7, "a", namespace="t-other"),
                event(8, "kubectl-user"),
            ]
        )
    )
    writes = audit.writes_to("scale", entries, "t-one")
    assert [entry.received for entry in writes] == [START + timedelta(seconds=s) for s in (1, 2, 8)]
    assert [entry.username for entry in audit.writes_to("scale", entries, "t-one", ["a"])] == [
        "a",
        "a",
    ]
    tried = audit.writes_to("scale", entries, "t-one", ["a"], attempts=True)
    assert [entry.code for entry in tried] == [200, 200, 409]


def test_status_writes_are_status_updates_in_one_namespace() -> None:
    entries = list(
        audit.parse_lines(
            json.dumps(item)
            for item in [
                event(1, "a", subresource="status"),
                event(2, "a", subresource="status", code=409),
                event(3, "a"),  # a /scale write
                event(4, "b", subresource="status"),
                event(5, "a", subresource="status", namespace="t-other"),
                event(6, "a", subresource="status", verb="get"),
            ]
        )
    )
    assert [entry.username for entry in audit.writes_to("status", entries, "t-one")] == ["a", "b"]
    tried = audit.writes_to("status", entries, "t-one", ["a"], attempts=True)
    assert [entry.code for entry in tried] == [200, 409]


def test_concurrent_actors_are_different_identities_within_the_window() -> None:
    writes = list(
        audit.parse_lines(
            json.dumps(item)
            for item in [event(0, "a"), event(10, "a"), event(45, "b"), event(70, "b")]
        )
    )
    window = timedelta(seconds=30)
    assert audit.concurrent_actors(writes, window) == []
    late_a = audit.parse_entry(json.dumps(event(60, "a")))
    assert late_a is not None
    pairs = audit.concurrent_actors([*writes, late_a], window)
    assert [(first.username, second.username) for first, second in pairs] == [
        ("b", "a"),
        ("a", "b"),
    ]


def test_the_policy_records_only_scale_deployment_lease_and_autoscaler_status_writes() -> None:
    document = yaml.safe_load(audit.policy())
    assert document["kind"] == "Policy"
    assert document["omitStages"] == ["RequestReceived"]
    first, recorded, rest = document["rules"]
    assert first == {"level": "None", "namespaces": ["kube-node-lease"]}
    assert recorded["level"] == "Metadata"
    assert set(recorded["verbs"]) == {"create", "update", "patch", "delete"}
    resources = {item["group"]: set(item["resources"]) for item in recorded["resources"]}
    assert resources == {
        "apps": {"deployments", "*/scale"},
        "": {"*/scale"},
        "coordination.k8s.io": {"leases"},
        "podpilot.io": {"autoscalers/status"},
    }
    assert rest == {"level": "None"}


def test_the_apiserver_flags_name_the_policy_and_the_log(tmp_path: Path) -> None:
    flags = audit.apiserver_flags(tmp_path / "policy.yaml", tmp_path / "audit.log")
    assert f"--audit-policy-file={tmp_path / 'policy.yaml'}" in flags
    assert f"--audit-log-path={tmp_path / 'audit.log'}" in flags
    assert "--audit-log-format=json" in flags
