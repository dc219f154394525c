"""Which watch events start a recompute."""

from __future__ import annotations

import asyncio
import contextlib

from podpilot.flannel.controller.reconciler import FlannelReconciler, Indices
from podpilot.flannel.controller.recorder import NullRecorder
from podpilot.observability.flannel_recorder import FlannelMetricsRecorder
from podpilot.observability.registry import REGISTRY
from podpilot.settings import FlannelSettings


def _reconciler() -> FlannelReconciler:
    async def build() -> FlannelReconciler:
        return FlannelReconciler(
            FlannelSettings(),
            lambda: None,  # type: ignore[arg-type,return-value]
            recorder=NullRecorder(),
        )

    return asyncio.run(build())


def test_only_events_that_change_the_slim_copy_count() -> None:
    reconciler = _reconciler()
    slim = {"metadata": {"name": "a"}, "spec": {"podCIDR": "10.0.0.0/24"}}
    assert reconciler.differs(("node", "a"), slim)  # first sight
    assert not reconciler.differs(("node", "a"), dict(slim))  # a heartbeat
    assert reconciler.differs(("node", "a"), {**slim, "spec": {"podCIDR": "10.0.1.0/24"}})
    assert reconciler.differs(("node", "a"), None)  # deleted
    assert not reconciler.differs(("node", "a"), None)


def test_an_object_never_kept_is_not_a_change_when_deleted() -> None:
    assert not _reconciler().differs(("node", "never-seen"), None)


def test_a_replica_that_is_not_the_leader_computes_but_writes_nothing() -> None:
    asked: list[str] = []

    def clients() -> None:
        asked.append("clients")
        raise AssertionError("a replica that is not the leader must not reach the API")

    async def scenario() -> bool:
        reconciler = FlannelReconciler(
            FlannelSettings(),
            clients,  # type: ignore[arg-type]
            recorder=NullRecorder(),
            leader_term=lambda: None,
        )
        await reconciler.reconcile(Indices({}, {}, {}))
        return reconciler._dirty.is_set()

    assert asyncio.run(scenario()) is True  # still pending, for when it leads
    assert asked == []


class ForgettingRecorder(NullRecorder):
    def __init__(self) -> None:
        self.forgotten = 0

    def forget_report(self) -> None:
        self.forgotten += 1


def test_a_leader_that_steps_down_drops_its_report_series_once() -> None:
    """A standby's last report must not keep alerts firing beside the new leader's."""
    recorder = ForgettingRecorder()

    async def scenario() -> None:
        reconciler = FlannelReconciler(
            FlannelSettings(debounce=0.0, resync=0.05),
            lambda: None,  # type: ignore[arg-type,return-value]
            recorder=recorder,
            leader_term=lambda: None,
        )
        reconciler._publisher = object()  # type: ignore[assignment]  # it led before
        reconciler.changed(Indices({}, {}, {}))
        task = asyncio.create_task(reconciler.run())
        await asyncio.sleep(1.5)  # more than one standby poll
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert recorder.forgotten == 1


def test_the_metrics_recorder_forgets_every_series_of_the_report() -> None:
    recorder = FlannelMetricsRecorder()
    recorder._nodes.replace({("OK",): 3.0})
    recorder._node_utilization.replace({("node-a", "ipv4"): 0.5})
    recorder.forget_report()
    assert REGISTRY.get_sample_value("podpilot_flannel_nodes", {"state": "OK"}) is None
    labels = {"node": "node-a", "family": "ipv4"}
    assert (
        REGISTRY.get_sample_value("podpilot_flannel_node_subnet_utilization_ratio", labels) is None
    )
