"""The life of one Autoscaler inside the operator: evaluate every period, write, report."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from podpilot.apimachinery.backoff import TokenBucket, retry_delay
from podpilot.apimachinery.timestamps import parse_time
from podpilot.apimachinery.transitions import level_changes
from podpilot.autoscaler.api import history as history_tools
from podpilot.autoscaler.api.owners import (
    AUTOSCALER_KIND,
    OwnerIndex,
    ScaleOwner,
    ScaleTarget,
    other_owners,
)
from podpilot.autoscaler.api.result import Action, EvaluationResult, Event
from podpilot.autoscaler.api.shadow import (
    ShadowTally,
    tally_after,
    tally_from_status,
    tally_to_status,
)
from podpilot.autoscaler.api.spec import AutoscalerSpec, Mode, SpecError, parse_spec
from podpilot.autoscaler.api.status import (
    carried_over,
    format_targets,
    history_from_status,
    one_per_spec_metric,
    pending_rescale_from_status,
    render_status,
    status_digest,
    status_key,
    without_timestamps,
)
from podpilot.autoscaler.api.takeover import SEED_ANNOTATION, TakeoverSeed, seeded_history
from podpilot.autoscaler.api.takeover_from import (
    TAKEOVER_FROM_ANNOTATION,
    TakeoverRecord,
    TakeoverStep,
    record_from_status,
    record_to_status,
    takeover_step,
)
from podpilot.autoscaler.policy.plan import Memory, Plan, pending_rescale, with_pending_settled
from podpilot.autoscaler.policy.zero import SCALED_TO_ZERO
from podpilot.kube.fencing import MayWrite, WriteNotAllowedError, always
from podpilot.kube.status_writes import StatusConflictError
from podpilot.settings import STATUS_HEARTBEAT_SECONDS

from .evaluator import Services, Watched, evaluate
from .recorder import Recorder
from .signals import StopFlag
from .wakeup import MIN_WAKE_INTERVAL, Wakeup, Wakeups

RESUMED_HEARTBEATS_SECONDS = 30.0
"""After a stop longer than the heartbeat, the overdue heartbeats fall due over this long."""
DEFAULT_PERIOD = 15.0  # seconds, when there is no spec to read it from
FALLBACK_DUE_MARGIN = 0.05  # seconds past the fallback's instant, so a sleep ends after it
MIN_EVALUATION_DEADLINE = 30.0
"""Seconds an evaluation may spend reading, at least: more when its period is longer."""
ALWAYS_POSTED = frozenset({"SuccessfulRescale", "FailedRescale"})
"""Reasons posted at every evaluation that makes one: each is an act (or a failed one)."""


class EvaluationTimeoutError(Exception):
    """An evaluation outlived its deadline as a whole (reading is cut earlier, see evaluate)."""


PostEvent = Callable[[Event], None]
Sleep = Callable[[float], Awaitable[bool]]  # returns True when the loop must stop
Evaluation = Callable[[], Awaitable[tuple[AutoscalerSpec | None, EvaluationResult | None]]]


class StatusQueue(Protocol):
    """Where statuses go to be written, by (namespace, name): ``kube.coalescing``'s writers."""

    def submit(
        self,
        key: tuple[str, str],
        value: Mapping[str, Any],
        *,
        urgent: bool = False,
        may_write: MayWrite = always,
    ) -> asyncio.Future[None]: ...

    def discard(self, key: tuple[str, str]) -> None: ...

    async def close(self) -> None: ...


DecisionState = tuple[Any, ...]


@dataclass
class Controller:
    """Process-wide pieces every Autoscaler loop shares."""

    services: Services
    status: StatusQueue
    bucket: TokenBucket
    backoff_base: float
    backoff_cap: float
    recorder: Recorder
    owners: OwnerIndex = field(default_factory=OwnerIndex)  # who scales which target
    min_deadline: float = MIN_EVALUATION_DEADLINE
    wakeups: Wakeups = field(default_factory=Wakeups)  # spec changes end the wait
    status_heartbeat: float = STATUS_HEARTBEAT_SECONDS  # see AutoscalerLoop.status_heartbeat

    def deadline(self, spec: AutoscalerSpec) -> float:
        """Seconds one evaluation of ``spec`` may spend reading: its period, at least
        ``min_deadline`` (a single API call may take its whole timeout)."""
        return max(float(spec.evaluation_period), self.min_deadline)


@dataclass(frozen=True)
class WrittenStatus:
    """What is kept of the last status submitted: what the next render carries over, and a
    digest to compare with (not the whole status, about 10 KB per Autoscaler)."""

    carried: Mapping[str, Any]  # see status.carried_over
    digest: bytes

    @classmethod
    def of(cls, status: Mapping[str, Any], digest: bytes | None = None) -> WrittenStatus:
        return cls(carried_over(status), digest if digest is not None else status_digest(status))


@dataclass
class AutoscalerLoop:
    """Per-Autoscaler state between evaluations; restart-safe because it starts from status."""

    namespace: str
    name: str
    memory: Memory
    written: WrittenStatus | None = None
    written_at: float = 0.0
    written_key: tuple[Any, ...] | None = None  # status_key of what was written
    persisted: DecisionState | None = None  # decision_state of the last status known written
    pending: asyncio.Future[None] | None = None  # a write not waited for
    posted: dict[tuple[str, str], str] = field(default_factory=dict)  # (reason, message): type
    failures: int = 0
    change_seen_at: float | None = None  # first evaluation that wanted the pending change
    shadow: ShadowTally | None = None  # DryRun beside an HPA: the comparisons (status.shadow)
    takeover: TakeoverRecord | None = None  # the takeover-from annotation's seed (status.takeover)
    # Whether status.takeover is written (as null once the record is dropped): from the first
    # record on, so that dropping one clears it, even after a write that failed.
    writes_takeover: bool = False
    # The spec last parsed and what it was parsed from (the watch's current copy of it).
    parsed: tuple[Mapping[str, Any], AutoscalerSpec] | None = None
    # The longest an unchanged status (only timestamps moved) goes unwritten; this loop's
    # own interval, ``heartbeat``, is between half and all of it.
    status_heartbeat: float = STATUS_HEARTBEAT_SECONDS
    heartbeat: float = field(init=False, default=STATUS_HEARTBEAT_SECONDS)
    spread: float = field(init=False, default=0.0)  # where in the range ``heartbeat`` is, [0, 1)
    phase: float = field(init=False, default=0.0)  # a fraction of the period, in [0, 1)

    def __post_init__(self) -> None:
        # Fixed per Autoscaler: all of them are first written together at start-up, and their
        # heartbeats must not stay in step (1,000 status patches in one period starve every
        # other API call of the pool).
        self.spread = zlib.crc32(f"{self.namespace}/{self.name}".encode()) / 2**32
        self.heartbeat = self.status_heartbeat * (0.5 + 0.5 * self.spread)
        # Where in its period this Autoscaler is evaluated, fixed per Autoscaler and
        # independent of the heartbeat's spread.
        self.phase = zlib.crc32(f"phase/{self.namespace}/{self.name}".encode()) / 2**32

    @classmethod
    def resume(
        cls,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        now: float,
        digest: bytes | None = None,
        status_heartbeat: float = STATUS_HEARTBEAT_SECONDS,
    ) -> AutoscalerLoop:
        """A loop continuing from ``status`` as stored: the whole of it, or what the watch
        keeps of it (``api.watched.resumed_status``) with the whole one's ``digest``."""
        stored = history_from_status(status.get("stabilization"))
        history = history_tools.resume(stored, now) if stored is not None else None
        failures = int(status.get("consecutiveFailures") or 0)
        memory = Memory(
            history=history,
            consecutive_failures=failures,
            last_replicas=int(status.get("currentReplicas") or 0),
            last_active=_resumed_last_active(status, now),
            failing_since=_resumed_failing_since(status, failures, now),
            fallback_active=bool((status.get("lastDecision") or {}).get("fallbackApplied")),
            pending=pending_rescale_from_status(status.get("pendingRescale")),
            zeroed=_resumed_zeroed(status),
        )
        persisted = decision_state(status) if stored is not None else None
        evaluated_at = parse_time((status.get("lastDecision") or {}).get("evaluatedAt"))
        found = stored is not None and evaluated_at is not None
        takeover = record_from_status(status.get("takeover"))
        loop = cls(
            namespace,
            name,
            memory,
            written=WrittenStatus.of(status, digest) if found else None,
            persisted=persisted,
            shadow=tally_from_status(status.get("shadow")),
            takeover=takeover,
            writes_takeover=status.get("takeover") is not None,
            status_heartbeat=status_heartbeat,
        )
        if found and evaluated_at is not None:
            # The status found is what was last written: a restarted operator writes again
            # only when its first evaluation changes it, or when the heartbeat falls due, not
            # 2,000 identical statuses at once. After a long stop every heartbeat is overdue;
            # they fall due over the first RESUMED_HEARTBEATS_SECONDS, each at its own point.
            overdue_due_in = min(RESUMED_HEARTBEATS_SECONDS, loop.heartbeat) * loop.spread
            loop.written_at = max(evaluated_at, now - loop.heartbeat + overdue_due_in)
        return loop

    def events_to_post(self, events: Sequence[Event]) -> list[Event]:
        """Events on change only: a failure (an invalid spec, a dry run's would-be rescale) is
        posted once until it goes away or changes; every rescale, and every failed one, is.
        Keyed by reason and message: one evaluation may fail several metrics for one reason
        (``FailedGetResourceMetric`` for cpu and for memory), each posted once."""
        current = {(event.reason, event.message): event.type for event in events}
        raised = set(level_changes(self.posted, current).raised)
        self.posted = current
        return [
            event
            for event in events
            if event.reason in ALWAYS_POSTED or (event.reason, event.message) in raised
        ]


def _resumed_failing_since(status: Mapping[str, Any], failures: int, now: float) -> float | None:
    """When the failing streak began; a streak without that record (written by an older
    operator) counts from now, so a restart can delay the fallback, never hasten it."""
    if not failures:
        return None
    since = parse_time(status.get("failingSince"))
    return since if since is not None else now


def _resumed_zeroed(status: Mapping[str, Any]) -> bool:
    """Whether the zero the target was left at is this Autoscaler's own: the condition that
    says so is the record (as upstream's HPA reads its own ``ScaledToZero``)."""
    return any(
        condition.get("type") == SCALED_TO_ZERO and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )


def _resumed_last_active(status: Mapping[str, Any], now: float) -> float | None:
    """``lastActiveTime`` is not rewritten on every active evaluation (only when something
    else changes), so an Autoscaler last recorded as Active counts as active until now:
    a restart can delay scaling to zero, never hasten it."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Active" and condition.get("status") == "True":
            return now
    return parse_time(status.get("lastActiveTime"))


async def run_once(
    loop: AutoscalerLoop,
    controller: Controller,
    raw_spec: Mapping[str, Any],
    generation: int | None,
    watched: Watched,
    post: PostEvent,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    annotations: Mapping[str, str] | None = None,
    may_write: MayWrite = always,
) -> tuple[AutoscalerSpec | None, EvaluationResult | None]:
    """One evaluation with its status write and events; returns what it decided.

    ``annotations`` are the Autoscaler's: a takeover's seed (``api/takeover.py``) is folded
    into the stabilization history before deciding; ``podpilot.io/takeover-from`` is decided
    on (``api/takeover_from.py``) with the HPA as its watch last saw it, and the seed that
    evaluation makes is recorded in ``status.takeover``.
    """
    _check_pending(loop, logger)
    now = time.time()
    try:
        spec = _parsed_spec(loop, raw_spec)
    except SpecError as error:
        for event in loop.events_to_post([Event("Warning", "InvalidSpec", str(error))]):
            post(event)
        return None, None
    others = claim_target(controller.owners, loop.namespace, loop.name, spec)
    seed = TakeoverSeed.from_annotation((annotations or {}).get(SEED_ANNOTATION))
    if seed is not None:
        history = seeded_history(loop.memory.history, seed, now)
        loop.memory = dataclasses.replace(loop.memory, history=history)
    takeover = _takeover_step(loop, controller, spec, annotations or {})
    started = time.perf_counter()

    async def record_intent(plan: Plan) -> None:
        await _write_intent(loop, controller, plan, spec, generation, now, may_write)

    result = await _evaluate_within_deadline(
        loop, controller, spec, watched, now, others, takeover, record_intent, may_write
    )
    seconds = time.perf_counter() - started
    exposing = may_write()  # a loop fenced meanwhile exposes nothing more (see exposure.py)
    recorder = controller.recorder
    recorder.evaluated(loop.namespace, loop.name, spec, result, seconds, now, exposing=exposing)
    _record_reaction(loop, spec, result, time.time(), recorder)
    loop.memory = Memory.after(result)
    loop.takeover = takeover.record_after(result.takeover_seed)
    loop.writes_takeover = loop.writes_takeover or loop.takeover is not None
    _compare_with_hpa(loop, controller, spec, result, exposing)
    for event in loop.events_to_post(result.events):
        post(event)
    _log_action(loop, spec, result, logger)
    await _write_status(loop, controller, spec, result, generation, now, may_write)
    return spec, result


async def _evaluate_within_deadline(
    loop: AutoscalerLoop,
    controller: Controller,
    spec: AutoscalerSpec,
    watched: Watched,
    now: float,
    others: tuple[ScaleOwner, ...],
    takeover: TakeoverStep,
    record_intent: Callable[[Plan], Awaitable[None]],
    may_write: MayWrite,
) -> EvaluationResult:
    deadline = controller.deadline(spec)
    try:
        # Reading is cut at the deadline; what follows is one /scale patch, bounded by the
        # clients' timeout. Twice the deadline bounds both, whatever hangs.
        async with asyncio.timeout(2 * deadline) as whole:
            return await evaluate(
                spec,
                loop.namespace,
                loop.memory,
                watched,
                controller.services,
                now,
                controller.recorder.metric_read,
                others,
                takeover,
                deadline,
                record_intent,
                may_write,
            )
    except TimeoutError:
        if not whole.expired():
            raise  # a call's own timeout (say, a /scale patch): not the deadline's
        raise EvaluationTimeoutError(
            f"evaluation of {loop.namespace}/{loop.name} did not end within {2 * deadline:g} s"
        ) from None


def _log_action(
    loop: AutoscalerLoop,
    spec: AutoscalerSpec,
    result: EvaluationResult,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    if result.action is Action.NO_CHANGE:
        return
    # With the readings it rests on, as kubectl get hpa's Targets column words them, so that a
    # log alone tells a step taken on a surprising reading from one on a wrong rule.
    measured = format_targets(one_per_spec_metric(result.metrics, spec))
    logger.info(
        "%s/%s: %s%s", loop.namespace, loop.name, result.action_message,
        f" [{measured}]" if measured else "",
    )  # fmt: skip


async def _write_status(
    loop: AutoscalerLoop,
    controller: Controller,
    spec: AutoscalerSpec,
    result: EvaluationResult,
    generation: int | None,
    now: float,
    may_write: MayWrite,
) -> None:
    """Submit the status the evaluation renders, unless it equals the one written and the
    heartbeat is not due; waited for when it holds decision state a restart needs."""
    stale = now - loop.written_at >= loop.heartbeat
    key = status_key(result, spec, generation)
    if key is not None:
        key = (*key, loop.shadow, loop.takeover)
    previous = loop.written
    # Written with an equal key: equal but for timestamps, so equal digests (see status_key).
    unchanged = previous if key is not None and key == loop.written_key else None
    if unchanged is not None and not stale:
        return  # steady: the rendered status would equal the written one
    status = render_status(result, spec, previous.carried if previous else {}, generation)
    if loop.shadow is not None:
        status["shadow"] = tally_to_status(loop.shadow)
    if loop.writes_takeover:
        status["takeover"] = record_to_status(loop.takeover)
    digest = unchanged.digest if unchanged is not None else status_digest(status)
    if previous is None or stale or digest != previous.digest:
        state = decision_state(status)
        # Decision state a restart could not rebuild: persisted before the next evaluation
        # (and its next /scale patch), as when every write was waited for.
        waited_for = result.rescaled or (state != loop.persisted and not _seeded_only(loop, result))
        written = controller.status.submit(
            (loop.namespace, loop.name), status, urgent=waited_for, may_write=may_write
        )
        loop.written, loop.written_at, loop.pending = WrittenStatus.of(status, digest), now, written
        if waited_for:
            try:
                await written
            except BaseException:
                loop.written = loop.written_key = loop.pending = None
                raise
            loop.persisted, loop.pending = state, None
    loop.written_key = key


def _parsed_spec(loop: AutoscalerLoop, raw_spec: Mapping[str, Any]) -> AutoscalerSpec:
    """``parse_spec(raw_spec)``, parsed again only when the spec changed. The watch's copy is a
    new object after every status write (it never changes one in place), so equal specs count
    as unchanged, and the loop then refers to the current copy instead of the one parsed."""
    if loop.parsed is not None:
        kept_raw, spec = loop.parsed
        if kept_raw is raw_spec or kept_raw == raw_spec:
            loop.parsed = (raw_spec, spec)
            return spec
    spec = parse_spec(raw_spec)
    loop.parsed = (raw_spec, spec)
    return spec


def _takeover_step(
    loop: AutoscalerLoop,
    controller: Controller,
    spec: AutoscalerSpec,
    annotations: Mapping[str, str],
) -> TakeoverStep:
    """What the takeover-from annotation asks of this evaluation, from the record in status
    (not the annotation) and the HPA as its watch last saw it (no API call)."""
    target = spec.target
    found = controller.owners.hpa(ScaleTarget(loop.namespace, target.kind, target.name))
    return takeover_step(
        annotations.get(TAKEOVER_FROM_ANNOTATION),
        loop.takeover,
        spec.mode is Mode.ACTIVE,
        (target.kind, target.name),
        partial(controller.owners.hpa_named, loop.namespace),
        found[0] if found is not None else None,
    )


def _compare_with_hpa(
    loop: AutoscalerLoop,
    controller: Controller,
    spec: AutoscalerSpec,
    result: EvaluationResult,
    exposing: bool,
) -> None:
    """DryRun beside an HPA: compare with the HPA's status as its watch last saw it (no API
    call). Active, or no HPA: the tally stays as it was (a takeover's record)."""
    if spec.mode is not Mode.DRY_RUN:
        return
    target = spec.target
    found = controller.owners.hpa(ScaleTarget(loop.namespace, target.kind, target.name))
    if found is None:
        return
    hpa_name, hpa = found
    metrics = format_targets(one_per_spec_metric(result.metrics, spec))
    loop.shadow = tally_after(loop.shadow, hpa_name, hpa, result, metrics)
    if exposing:
        controller.recorder.shadowed(loop.namespace, loop.name, loop.shadow)


def claim_target(
    owners: OwnerIndex, namespace: str, name: str, spec: AutoscalerSpec
) -> tuple[ScaleOwner, ...]:
    """Record the target this Autoscaler scales (an owner only when Active); the target's
    other owners, which an Active Autoscaler must not scale alongside (none for DryRun)."""
    target, active = spec.target, spec.mode is Mode.ACTIVE
    owners.claim(namespace, name, target.kind, target.name, active)
    if not active:
        return ()
    me = ScaleOwner(AUTOSCALER_KIND, namespace, name)
    return other_owners(me, owners.owners(ScaleTarget(namespace, target.kind, target.name)))


async def _write_intent(
    loop: AutoscalerLoop,
    controller: Controller,
    plan: Plan,
    spec: AutoscalerSpec,
    generation: int | None,
    now: float,
    may_write: MayWrite,
) -> None:
    """Before a ``/scale`` patch: the status with the patch recorded (``pendingRescale``),
    written and waited for, so a process that dies between the patch and the status write
    after it still leaves the scale event for the next one (docs/autoscaler.md#restarts).
    The status written after the patch, with the event in the history, removes the record.
    """
    previous = loop.written
    pending = pending_rescale(plan)
    status = render_status(
        plan.result, spec, previous.carried if previous else {}, generation, pending
    )
    written = controller.status.submit(
        (loop.namespace, loop.name), status, urgent=True, may_write=may_write
    )
    try:
        await written
    except BaseException:
        loop.written = loop.written_key = loop.pending = None
        raise
    loop.written, loop.written_at, loop.written_key = WrittenStatus.of(status), now, None
    loop.persisted, loop.pending = decision_state(status), None
    # Should the evaluation raise after this (before its result), this memory is kept: the
    # next evaluation counts the step, as a restart would. A patch without an answer counts
    # it in its own result (``rescale_unconfirmed``).
    settled = with_pending_settled(loop.memory, spec.behavior)  # a record resumed before
    loop.memory = dataclasses.replace(settled, pending=pending)


async def run_until_stopped(
    loop: AutoscalerLoop,
    controller: Controller,
    evaluate_once: Evaluation,
    stopped: StopFlag,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    keep_going: Callable[[], bool] = lambda: True,
    wakeup: Wakeup | None = None,
) -> None:
    """Evaluate every period (or after the failure backoff) until ``stopped`` is set, this
    task is cancelled, or ``keep_going`` says no (this replica lost its Lease, or holds it in
    a newer term than the loop began in).

    A spec change (``wakeup``, see ``wakeup.py``) ends the wait early: the next evaluation
    starts at once, but not sooner than ``MIN_WAKE_INTERVAL`` after the previous one began,
    and the period is counted again from it.

    A ``CancelledError`` that is not this task's own (a shared read cancelled by another
    Autoscaler, a status write cancelled by someone else) is a failed evaluation like any
    other error: ending here would end the loop until it is started again, 10 s later.
    """
    # Counted from when this evaluation was due, not from when the event loop got to it: a
    # late wake-up (2,000 loops share one event loop) must not push every later period back.
    # Except the first period, counted from when the first evaluation ended plus this
    # Autoscaler's own phase (a fixed fraction of a period): a starting operator's loops all
    # fall due at once, and fixed-rate periods would keep that burst in step for ever; the
    # phases spread them evenly over the period (the time the burst takes to drain alone left
    # them bunched: 1.4 and 0.5 evaluations per Autoscaler in alternate periods at 5,000).
    due = time.monotonic()
    first = True
    while not stopped and keep_going():
        started = time.monotonic()
        attempt = await _attempt(loop, controller, evaluate_once, stopped, logger, keep_going)
        if attempt is None:
            return
        spec, result, failed = attempt
        now = time.monotonic()
        if first:
            due = now
            if not retrying(failed, result):  # a retry keeps its backoff; the phase comes after
                period = float(spec.evaluation_period) if spec is not None else DEFAULT_PERIOD
                due, first = now + loop.phase * period, False
        delay = next_delay(loop, controller, spec, result, failed, now - due)
        due = now + delay
        if wakeup is None:
            await stopped.wait(delay)
        elif await wakeup.sleep(stopped, delay):
            early = started + MIN_WAKE_INTERVAL - time.monotonic()
            if early > 0:
                await stopped.wait(early)
            due = time.monotonic()


async def _attempt(
    loop: AutoscalerLoop,
    controller: Controller,
    evaluate_once: Evaluation,
    stopped: StopFlag,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    keep_going: Callable[[], bool],
) -> tuple[AutoscalerSpec | None, EvaluationResult | None, bool] | None:
    """One evaluation, a failure logged and counted: its spec, its result and whether it
    failed (then neither is known); None when a status write met a conflict, which ends the
    loop (the runner resumes from the Autoscaler as stored)."""
    try:
        spec, result = await evaluate_once()
    except asyncio.CancelledError:
        if stopped or _cancelling():
            raise
        logger.warning(
            "evaluation of %s/%s failed: cancelled by something else than this loop",
            loop.namespace,
            loop.name,
        )
        _count_loop_error(loop, controller, keep_going)
    except EvaluationTimeoutError as error:
        logger.warning("%s", error)
    except WriteNotAllowedError as error:
        # A status the evaluation waits for (a rescale's record, before or after the patch,
        # or new decision state), refused after a fence or in a newer term of the Lease; the
        # loop ends at its next turn. Debug: the elector says "stops acting" once, not once
        # per Autoscaler.
        logger.debug("%s/%s: status not written: %s", loop.namespace, loop.name, error)
    except StatusConflictError as error:
        # The Autoscaler changed since this loop knew it (a spec edit, or a status another
        # replica wrote): nothing is written over it; the runner resumes from it as stored.
        logger.info(
            "%s/%s: status not written, %s: resuming from the stored one",
            loop.namespace, loop.name, error,
        )  # fmt: skip
        return None
    except Exception:
        logger.exception("evaluation of %s/%s failed", loop.namespace, loop.name)
        _count_loop_error(loop, controller, keep_going)
    else:
        return spec, result, False
    return None, None, True


def _count_loop_error(
    loop: AutoscalerLoop, controller: Controller, acting: Callable[[], bool]
) -> None:
    """A per-Autoscaler series: only while this replica acts for it (see exposure.py)."""
    if acting():
        controller.recorder.evaluation_error(loop.namespace, loop.name, "loop")


def _cancelling() -> bool:
    """Whether the running task itself was asked to stop (not merely handed a
    ``CancelledError`` raised by something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def decision_state(status: Mapping[str, Any]) -> DecisionState:
    """What a restarted operator resumes from (``AutoscalerLoop.resume``), minus the clock."""
    stabilization = without_timestamps({"stabilization": status.get("stabilization")})
    return (
        stabilization["stabilization"],
        status.get("consecutiveFailures") or 0,
        status.get("currentReplicas") or 0,
        status.get("failingSince"),
        status.get("pendingRescale"),
    )


def _seeded_only(loop: AutoscalerLoop, result: EvaluationResult) -> bool:
    """Nothing persisted yet and only the history a restart would seed again from the
    replica count: losing this write loses no decision."""
    history = result.history
    return (
        loop.persisted is None
        and not history.scale_up_events
        and not history.scale_down_events
        and tuple(item.replicas for item in history.recommendations) == (result.current_replicas,)
        and result.consecutive_failures == 0
    )


def _check_pending(
    loop: AutoscalerLoop, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """A write not waited for that failed: write the whole status again this evaluation; one
    refused for a conflict ends the loop instead (``StatusConflictError``)."""
    pending = loop.pending
    if pending is None or not pending.done():
        return
    loop.pending = None
    error = None if pending.cancelled() else pending.exception()
    if pending.cancelled() or error is not None:
        loop.written = loop.written_key = None
        if isinstance(error, StatusConflictError):
            raise error  # the loop ends and resumes from the stored status
        # Refused after a fence: the elector has said so once, not once per Autoscaler.
        log = logger.debug if isinstance(error, WriteNotAllowedError) else logger.warning
        log("status write of %s/%s failed: %s", loop.namespace, loop.name, error)


def _record_reaction(
    loop: AutoscalerLoop,
    spec: AutoscalerSpec,
    result: EvaluationResult,
    now: float,
    recorder: Recorder,
) -> None:
    """Reaction latency: from the first evaluation whose combined proposal (largest metric
    proposal, within the bounds) differed from the replica count, to the patch applying it;
    stabilization windows and policies are part of it, as users experience them."""
    if result.rescaled:
        direction = "up" if result.desired_replicas > result.current_replicas else "down"
        seen = loop.change_seen_at if loop.change_seen_at is not None else result.now
        recorder.reaction(direction, max(0.0, now - seen))
        loop.change_seen_at = None
        return
    proposals = [r.outcome.proposal.replicas for r in result.metrics if r.outcome.proposal]
    if not proposals:
        return  # nothing was read: neither a new change nor the end of one
    combined = min(max(max(proposals), spec.min_replicas), spec.max_replicas)
    if combined == result.current_replicas and result.desired_replicas == result.current_replicas:
        loop.change_seen_at = None
    elif loop.change_seen_at is None:
        loop.change_seen_at = result.now


def retrying(failed: bool, result: EvaluationResult | None) -> bool:
    """Whether the next evaluation is a retry (after the failure backoff), not a period."""
    return failed or (result is not None and result.action in (Action.HELD, Action.FAILED))


def next_delay(
    loop: AutoscalerLoop,
    controller: Controller,
    spec: AutoscalerSpec | None,
    result: EvaluationResult | None,
    failed: bool,
    elapsed: float,
) -> float:
    """Seconds until the next evaluation: the evaluation period (or the failure backoff while
    evaluations keep failing) counted from when this one was due (``elapsed`` seconds ago), as
    the HPA's resync is, so neither a slow evaluation nor a late start pushes every later one
    back.

    The backoff never exceeds twice the period: a new workload's metrics routinely take a few
    scrapes to appear, and recovery must not wait minutes for that. Nor does it pass the
    instant the fallback falls due, so the fallback applies when its delay has passed.
    """
    period = float(spec.evaluation_period) if spec is not None else DEFAULT_PERIOD
    if retrying(failed, result):
        loop.failures += 1
        delay = retry_delay(
            loop.failures,
            controller.bucket,
            time.monotonic(),
            controller.backoff_base,
            min(controller.backoff_cap, 2 * period),
        )
    else:
        loop.failures = 0
        delay = period
    delay = max(0.0, delay - elapsed)
    due_in = _until_fallback(spec, result)
    if due_in is not None:
        delay = min(delay, max(0.0, due_in + FALLBACK_DUE_MARGIN))
    return delay


def _until_fallback(spec: AutoscalerSpec | None, result: EvaluationResult | None) -> float | None:
    """Seconds until the fallback falls due, while every metric fails and it has not yet."""
    if spec is None or result is None or result.fallback_applied:
        return None
    if result.failing_since is None:
        return None
    return result.failing_since + spec.fallback_delay - time.time()
