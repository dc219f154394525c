"""Two operator replicas with leader election, each with a client identity of its own, for the
fault cases F5, F6, F7 and F9 (docs/reliability.md).

- Each replica is ``podpilot run`` (an ``OperatorProcess``) with leader election on, short
  Lease settings, only the Autoscaler controller, watching one test namespace (so it never
  acts on other tests' objects), and a kubeconfig whose client certificate has its own CN
  (``cluster.client_kubeconfig``): the apiserver's audit log names it in ``user.username``.
  Its ``POD_NAME`` is that CN, so the Lease's holder (``<POD_NAME>_<suffix>``) names it too.
- One replica may reach the apiserver through a ``FreezableRelay`` (F6).
- ``scale_writes_since`` reads the audit log: the successful ``/scale`` writes the replicas
  made in a namespace after a moment.

The session's standalone operator watches every namespace and would act on these tests'
Autoscalers as a third writer, so the module using this stops it (``session_operator_stopped``)
and starts it again afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.conftest import Kubectl, OperatorProcess
from tests.e2e.faults import raw, raw_json
from tests.e2e.waiting import wait_until

from podpilot.apimachinery.leader_election import STANDBY_JITTER
from podpilot_dev import audit
from podpilot_dev import cluster as dev_cluster

REPLICA_A = "podpilot-replica-a"
REPLICA_B = "podpilot-replica-b"
IDENTITIES = (REPLICA_A, REPLICA_B)
LEASE_NAME = "podpilot-e2e-leader"
# Short, and still far above a loaded CI machine's call latency: a Lease call may take
# RENEW_DEADLINE / 2 = 3 s before it is given up.
LEASE_DURATION = 8.0
RENEW_DEADLINE = 6.0
RETRY_PERIOD = 2.0
# A standby's attempts are up to (1 + jitter) retry periods apart.
ATTEMPT_INTERVAL = RETRY_PERIOD * (1 + STANDBY_JITTER)
ACT_WINDOW = 30.0  # seconds: never two identities writing /scale within it (F9's criterion)
FENCE_LINE = "stops acting: no renewal of"  # LeaderElector._fence's warning, at the deadline
LEASE_CALL_FAILED = ("reading Lease", "failed")  # LeaderElector.attempt's warning
CALL_NOT_ENDED = "has not ended yet"  # LeaseCallBusyError: the earlier call is still waiting


def replica(
    cluster: dev_cluster.ClusterState,
    log_dir: Path,
    identity: str,
    namespace: str,
    server: str | None = None,
) -> OperatorProcess:
    """A replica of ``identity`` (not started), through ``server`` if given (a relay)."""
    kubeconfig = dev_cluster.client_kubeconfig(cluster, identity, server)
    process = OperatorProcess(
        cluster,
        log_dir,
        name=identity,
        kubeconfig=kubeconfig,
        mode=(
            "--leader-election",
            f"--leader-election-namespace={namespace}",
            f"--leader-election-lease-name={LEASE_NAME}",
            f"--leader-election-lease-duration={LEASE_DURATION:g}",
            f"--leader-election-renew-deadline={RENEW_DEADLINE:g}",
            f"--leader-election-retry-period={RETRY_PERIOD:g}",
            f"--namespace={namespace}",
            "--controllers=autoscaler",
        ),
    )
    process.environment = {"POD_NAME": identity}
    return process


def start_together(replicas: Sequence[OperatorProcess]) -> None:
    for process in replicas:
        process.spawn()
    for process in replicas:
        process.wait_healthy()


def stop_together(replicas: Iterable[OperatorProcess]) -> None:
    """SIGTERM to all at once (each leader releases the Lease as it stops), then wait."""
    replicas = list(replicas)
    for process in replicas:
        process.signal_stop()
    for process in replicas:
        process.wait_stopped()


@contextmanager
def running(replicas: Sequence[OperatorProcess]) -> Iterator[None]:
    start_together(replicas)
    try:
        yield
    finally:
        stop_together(replicas)


def lease_path(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE_NAME}"


def lease_spec(kubectl: Kubectl, namespace: str) -> dict[str, object]:
    """The Lease's spec; {} when there is none or it could not be read this time."""
    found = raw_json(kubectl, lease_path(namespace))
    return dict(found.get("spec") or {}) if found else {}


def holder(kubectl: Kubectl, namespace: str) -> str | None:
    """The identity (the CN) of the replica holding the Lease, None while nobody does."""
    identity = str(lease_spec(kubectl, namespace).get("holderIdentity") or "")
    return identity.rsplit("_", 1)[0] if identity else None


def acquired_at(kubectl: Kubectl, namespace: str) -> datetime | None:
    """When the current holder acquired the Lease (its own clock; here the same machine's)."""
    text = lease_spec(kubectl, namespace).get("acquireTime")
    return audit.parse_timestamp(str(text)) if text else None


def wait_holder(
    kubectl: Kubectl, namespace: str, identity: str | None = None, timeout: float = 60
) -> str:
    """Wait until ``identity`` (or anyone) holds the Lease; return who does."""
    return wait_until(
        lambda: (found := holder(kubectl, namespace)) and (identity in (None, found)) and found,
        timeout=timeout,
        interval=0.5,
        what=f"{identity or 'a replica'} holding Lease {namespace}/{LEASE_NAME}",
    )


def delete_lease(kubectl: Kubectl, namespace: str) -> None:
    raw(kubectl, "delete", lease_path(namespace))


def now() -> datetime:
    """The moment to read the audit log from (the apiserver runs on this machine's clock)."""
    return datetime.now(UTC)


def scale_writes_since(
    cluster: dev_cluster.ClusterState, namespace: str, since: datetime
) -> list[audit.AuditEntry]:
    """The replicas' ``/scale`` writes in ``namespace`` received at or after ``since``, the
    refused ones included: each is a replica acting."""
    entries = audit.read(cluster.audit_log, since)
    return audit.writes_to("scale", entries, namespace, IDENTITIES, attempts=True)


def described(entries: Iterable[audit.AuditEntry]) -> str:
    return "\n".join(entry.describe() for entry in entries) or "(none)"


def log_lines_with(process: OperatorProcess, *parts: str) -> list[str]:
    return [
        line
        for line in process.log_path.read_text(errors="replace").splitlines()
        if all(part in line for part in parts)
    ]


def wait_seconds_from(start: float, seconds: float) -> None:
    """Sleep until ``seconds`` after the monotonic ``start``."""
    time.sleep(max(0.0, start + seconds - time.monotonic()))
