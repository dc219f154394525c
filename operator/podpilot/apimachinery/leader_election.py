"""Leader election on a Lease, as client-go's ``tools/leaderelection`` does it: the pure part.

Who may write is decided by one ``coordination.k8s.io/v1`` Lease. Its holder renews it every
retry period; the others watch it and take it over once it has not changed for a whole lease
duration. Two rules keep it safe against clock skew and against each other:

* A standby measures expiry on its OWN monotonic clock, from the moment it first saw the
  record in its current form (client-go's ``observedTime``). The holder's ``renewTime`` is
  written with the holder's wall clock and is never compared with anything: a holder whose
  clock is 30 s (or 30 days) off is judged exactly like one whose clock is right.
* The holder acts only until ``renew_deadline`` after it *sent* its last successful renewal.
  The write landed after it was sent, and a standby saw it after it landed, so the standby
  cannot take over before ``lease_duration`` after the holder's send; the holder stopped
  acting ``lease_duration - renew_deadline`` (5 s by default) before that. What this needs of
  the clocks is that they run at about the same RATE (5 s in 15 s is a 33 % margin); their
  offsets do not matter.

Times here are seconds of a monotonic clock, passed in; nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from podpilot.apimachinery.timestamps import format_datetime, parse_datetime

# client-go's JitterFactor is 1.2 (a standby waits up to 2.2 retry periods between attempts);
# a smaller one keeps the takeover within a lease duration and a fraction of a retry period.
STANDBY_JITTER = 0.2


class ElectionConfigError(ValueError):
    """Durations that cannot work together (client-go's NewLeaderElector checks the same)."""


@dataclass(frozen=True)
class ElectionConfig:
    """client-go's defaults, which kube-controller-manager uses as well."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if min(self.lease_duration, self.renew_deadline, self.retry_period) <= 0:
            raise ElectionConfigError("leader election durations must be positive")
        if self.lease_duration <= self.renew_deadline:
            raise ElectionConfigError(
                f"the lease duration ({self.lease_duration:g}s) must be longer than the renew "
                f"deadline ({self.renew_deadline:g}s)"
            )
        if self.renew_deadline <= (1 + STANDBY_JITTER) * self.retry_period:
            raise ElectionConfigError(
                f"the renew deadline ({self.renew_deadline:g}s) must be longer than "
                f"{1 + STANDBY_JITTER:g} retry periods ({self.retry_period:g}s each)"
            )

    @property
    def lease_duration_seconds(self) -> int:
        """The Lease's ``spec.leaseDurationSeconds``: whole seconds, rounded up. Standbys count
        the duration written, so rounding down (10.4 s written as 10) would let one take over
        before this replica's renew deadline (10.2 s) fenced it."""
        return math.ceil(self.lease_duration)

    @property
    def call_deadline(self) -> float:
        """Seconds one Lease call may take in all (the client's own retries included): half
        the renew deadline, so a hung call still leaves time for another attempt."""
        return self.renew_deadline / 2

    def request_timeout(self) -> tuple[float, float]:
        """(connect, read) seconds for one Lease request."""
        return (min(5.0, self.call_deadline), self.call_deadline)


@dataclass(frozen=True)
class LeaseRecord:
    """A Lease as read: its spec, and the resourceVersion an update must name."""

    holder_identity: str = ""
    lease_duration_seconds: int | None = None
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0
    resource_version: str = ""


@dataclass(frozen=True)
class Observation:
    """The Lease as last read (None: there is none) and when it was first seen like that."""

    record: LeaseRecord | None
    since: float


Term = tuple[int, datetime | None]
"""One holder's tenure of a Lease: its ``leaseTransitions`` and ``acquireTime``. A renewal
keeps both; every acquisition (after another holder, after a release, of a Lease created anew)
changes at least one, so equal terms mean nobody else held the Lease in between."""
STANDALONE_TERM: Term = (0, None)
"""The one term of a replica without leader election: it is the only writer for ever."""


def term_of(record: LeaseRecord) -> Term:
    return (record.lease_transitions, record.acquire_time)


class Step(enum.Enum):
    CREATE = "create"  # no Lease exists: create it, holding it
    ACQUIRE = "acquire"  # the Lease is free or expired: update it to hold it
    RENEW = "renew"  # we hold it: update its renewTime
    STAND_BY = "stand-by"  # someone else holds a live Lease: read it again later
    FENCE = "fence"  # we held it but did not renew in time: stop acting now


@dataclass(frozen=True)
class ElectorState:
    """What one replica knows: the last observation, and when its last successful acquire or
    renewal was sent (None: it is not the leader)."""

    observation: Observation | None = None
    renewal_sent_at: float | None = None
    term: Term | None = None
    """The term of the last record this replica wrote (None: it never held the Lease)."""
    last_sent_at: float | None = None
    """When its last successful acquire or renewal was sent, kept after a fence."""

    def observed(self, record: LeaseRecord | None, now: float) -> ElectorState:
        """The state after reading ``record`` at ``now``: ``since`` moves only on a change."""
        if self.observation is not None and self.observation.record == record:
            return self
        return replace(self, observation=Observation(record, now))

    def renewed(self, written: LeaseRecord, sent_at: float, now: float) -> ElectorState:
        """After a successful create or update that was sent at ``sent_at``."""
        return ElectorState(
            Observation(written, now), sent_at, term=term_of(written), last_sent_at=sent_at
        )

    def fenced(self) -> ElectorState:
        return replace(self, renewal_sent_at=None)


def is_leader(state: ElectorState, config: ElectionConfig, now: float) -> bool:
    """Whether this replica may act at ``now``: it renewed within the renew deadline.

    Controllers ask this before each write, so a stuck renewal loop fences by itself.
    """
    sent = state.renewal_sent_at
    return sent is not None and now - sent < config.renew_deadline


def lease_expired(observation: Observation, config: ElectionConfig, now: float) -> bool:
    """Whether the observed record has not changed for its lease duration, on OUR clock.

    The duration is the one the holder wrote (client-go does the same): a holder that released
    the Lease wrote 1 s; our own default covers a record without one.
    """
    record = observation.record
    duration = config.lease_duration
    if record is not None and record.lease_duration_seconds:
        duration = float(record.lease_duration_seconds)
    return now - observation.since >= duration


def names_another(state: ElectorState, identity: str) -> bool:
    """Whether the Lease as last read is not ours: deleted, freed or held by another replica
    (someone edited it by hand, or deleted it and another replica created it)."""
    observation = state.observation
    if observation is None:
        return False
    record = observation.record
    return record is None or record.holder_identity != identity


def decide(state: ElectorState, identity: str, config: ElectionConfig, now: float) -> Step:
    """The next step of the acquire/renew loop, from what was last observed. A leader fences
    at its renew deadline, and at once when the Lease no longer names it: client-go's
    ``IsLeader`` is the observed holder's name, nothing else."""
    if state.renewal_sent_at is not None and (
        not is_leader(state, config, now) or names_another(state, identity)
    ):
        return Step.FENCE
    observation = state.observation
    if observation is None or observation.record is None:
        return Step.CREATE
    holder = observation.record.holder_identity
    if holder == identity:
        # Even after a fence: the update names the resourceVersion we saw, so if anyone took
        # the Lease meanwhile it fails with a conflict instead of taking it back.
        return Step.RENEW
    if not holder or lease_expired(observation, config, now):
        return Step.ACQUIRE
    return Step.STAND_BY


def desired_record(
    observed: LeaseRecord | None, identity: str, config: ElectionConfig, wall_now: datetime
) -> LeaseRecord:
    """The record to write to hold the Lease: a renewal keeps acquireTime and the count of
    transitions; taking it from someone else (or from nobody) starts a new term."""
    previous = observed or LeaseRecord()
    ours = previous.holder_identity == identity
    return LeaseRecord(
        holder_identity=identity,
        lease_duration_seconds=config.lease_duration_seconds,
        acquire_time=previous.acquire_time if ours and previous.acquire_time else wall_now,
        renew_time=wall_now,
        lease_transitions=previous.lease_transitions + (0 if ours or observed is None else 1),
        resource_version=previous.resource_version,
    )


def released_record(observed: LeaseRecord, wall_now: datetime) -> LeaseRecord:
    """What a leader writes when it stops cleanly (client-go's ReleaseOnCancel): no holder and
    a 1 s duration, so a standby takes over at its next attempt instead of a lease later."""
    return replace(
        observed,
        holder_identity="",
        lease_duration_seconds=1,
        acquire_time=wall_now,
        renew_time=wall_now,
    )


def wait_before_next(step: Step, config: ElectionConfig, jitter: float) -> float:
    """Seconds until the next attempt; ``jitter`` is a random number in [0, 1).

    The leader renews every retry period. Everyone else spreads its attempts a little, so
    replicas started together do not all hit the Lease in the same instant.
    """
    if step is Step.RENEW:
        return config.retry_period
    return config.retry_period * (1 + STANDBY_JITTER * jitter)


def _micro_time(moment: datetime | None) -> str | None:
    """A MicroTime as the apiserver parses it: RFC 3339 in UTC with exactly six decimals."""
    if moment is None:
        return None
    return format_datetime(moment, precise=True)


def record_from_lease(lease: Mapping[str, Any]) -> LeaseRecord:
    """The record of a ``coordination.k8s.io/v1`` Lease as the API returns it (JSON)."""
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseRecord(
        holder_identity=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(duration) if duration else None,
        acquire_time=parse_datetime(spec.get("acquireTime")),
        renew_time=parse_datetime(spec.get("renewTime")),
        lease_transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
    )


def lease_body(namespace: str, name: str, record: LeaseRecord) -> dict[str, Any]:
    """The Lease to create, or to update in place (with its resourceVersion, so an update
    after someone else's write fails with 409 Conflict instead of overwriting it)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "acquireTime": _micro_time(record.acquire_time),
        "renewTime": _micro_time(record.renew_time),
        "leaseTransitions": record.lease_transitions,
    }
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {key: value for key, value in spec.items() if value is not None},
    }
