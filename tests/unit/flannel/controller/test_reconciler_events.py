"""Which watch events start a recompute."""

from __future__ import annotations

import asyncio

from podpilot.flannel.controller.reconciler import FlannelReconciler, Indices
from podpilot.flannel.controller.recorder import NullRecorder
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
            may_act=lambda: False,
        )
        await reconciler.reconcile(Indices({}, {}, {}))
        return reconciler._dirty.is_set()

    assert asyncio.run(scenario()) is True  # still pending, for when it leads
    assert asked == []
