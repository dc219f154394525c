"""The dev cluster's kube-apiserver audit log: its policy, and a reader for the fault tests.

The log answers one question of the fault matrix (docs/reliability.md): which client identity
wrote a workload's ``/scale``, and when. So the policy records, at Metadata level (no bodies),
only writes to ``*/scale`` subresources and to Deployments, and writes of Leases outside the
nodes' heartbeat namespace; everything else is left out to keep the file small. Each operator
replica in those tests uses a client certificate of its own (``cluster.client_kubeconfig``), so
``user.username`` tells the replicas apart.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

WRITE_VERBS = ["create", "update", "patch", "delete"]
UPDATE_VERBS = frozenset({"update", "patch"})
# The API groups whose */scale writes are recorded: Deployments, ReplicaSets and StatefulSets
# (apps), ReplicationControllers (core). An audit rule names its groups exactly.
SCALED_GROUPS = ("apps", "")


def policy() -> str:
    """The audit policy: Metadata level for the writes the fault tests count, nothing else."""
    rules: list[dict[str, Any]] = [
        # Node heartbeats renew a Lease every few seconds per node; never relevant here.
        {"level": "None", "namespaces": ["kube-node-lease"]},
        {
            "level": "Metadata",
            "verbs": WRITE_VERBS,
            "resources": [
                {"group": "apps", "resources": ["deployments", "*/scale"]},
                {"group": "", "resources": ["*/scale"]},
                {"group": "coordination.k8s.io", "resources": ["leases"]},
                {"group": "podpilot.io", "resources": ["autoscalers/status"]},
            ],
        },
        {"level": "None"},
    ]
    document = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],  # one entry per request, when it was answered
        "rules": rules,
    }
    return yaml.safe_dump(document, sort_keys=False)


def apiserver_flags(policy_file: Path, log_file: Path) -> list[str]:
    """kube-apiserver's flags for this log: JSON lines, written before each answer."""
    return [
        f"--audit-policy-file={policy_file}",
        f"--audit-log-path={log_file}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxbackup=1",
        "--audit-log-maxsize=200",  # MB; rotated once (the reader reads the backup too)
    ]


@dataclass(frozen=True)
class AuditEntry:
    """One answered request, as much of it as the tests need."""

    received: datetime  # requestReceivedTimestamp, the apiserver's clock (UTC)
    username: str
    verb: str
    namespace: str
    resource: str
    name: str
    subresource: str
    code: int | None  # the response's status code; None when the request never got one

    @property
    def succeeded(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    def is_write_to(self, subresource: str) -> bool:
        """An update or patch of ``subresource`` (``scale``, ``status``)."""
        return self.subresource == subresource and self.verb in UPDATE_VERBS

    def describe(self) -> str:
        suffix = f"/{self.subresource}" if self.subresource else ""
        target = f"{self.resource}/{self.name}{suffix}"
        return (
            f"{self.received.isoformat()} {self.username} {self.verb} {self.namespace}/{target} "
            f"-> {self.code}"
        )


def parse_timestamp(text: str) -> datetime:
    """An audit timestamp (RFC 3339 with microseconds, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_entry(line: str) -> AuditEntry | None:
    """The entry of one log line; None for a line that is not a complete audit Event (a line
    being written, or a stage other than ResponseComplete)."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("kind") != "Event":
        return None
    if event.get("stage") != "ResponseComplete":
        return None
    reference = event.get("objectRef") or {}
    status = event.get("responseStatus") or {}
    code = status.get("code")
    return AuditEntry(
        received=parse_timestamp(str(event["requestReceivedTimestamp"])),
        username=str((event.get("user") or {}).get("username", "")),
        verb=str(event.get("verb", "")),
        namespace=str(reference.get("namespace", "")),
        resource=str(reference.get("resource", "")),
        name=str(reference.get("name", "")),
        subresource=str(reference.get("subresource", "")),
        code=int(code) if code is not None else None,
    )


def parse_lines(lines: Iterable[str]) -> Iterator[AuditEntry]:
    for line in lines:
        entry = parse_entry(line)
        if entry is not None:
            yield entry


def read(log_file: Path, since: datetime) -> list[AuditEntry]:
    """Every entry of the log (and of its one rotated backup) received at or after ``since``,
    in the order received."""
    files = sorted(log_file.parent.glob(f"{log_file.stem}-*{log_file.suffix}"))
    files.append(log_file)
    entries: list[AuditEntry] = []
    for path in files:
        if path.exists():
            with path.open(errors="replace") as lines:
                entries += [entry for entry in parse_lines(lines) if entry.received >= since]
    return sorted(entries, key=lambda entry: entry.received)


def writes_to(
    subresource: str,
    entries: Iterable[AuditEntry],
    namespace: str,
    usernames: Sequence[str] | None = None,
    *,
    attempts: bool = False,
) -> list[AuditEntry]:
    """The successful updates and patches of ``subresource`` (``scale``, ``status``) in
    ``namespace`` (by ``usernames`` only, when given); with ``attempts``, the refused ones too
    (a 409 Conflict is still an attempt to act)."""
    return [
        entry
        for entry in entries
        if entry.is_write_to(subresource)
        and (attempts or entry.succeeded)
        and entry.namespace == namespace
        and (usernames is None or entry.username in usernames)
    ]


def concurrent_actors(
    writes: Sequence[AuditEntry], window: timedelta
) -> list[tuple[AuditEntry, AuditEntry]]:
    """Every pair of writes by different identities received less than ``window`` apart."""
    ordered = sorted(writes, key=lambda entry: entry.received)
    return [
        (first, second)
        for first, second in itertools.combinations(ordered, 2)
        if first.username != second.username and second.received - first.received < window
    ]
